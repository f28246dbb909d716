"""Run a plan on a Ray cluster (`igcli explain ... --ray local|auto|ADDRESS`), inside the same
frame as a local run (igcli/runner/frame.py).

The driver (this process) has the plan a local run would have (the model loaded, the inputs
listed and their ids computed once), then hands Ray Data a pipeline (pipeline.py): the workers
(worker.py) decode and explain groups of images with igcli's own engine, light write tasks
(writes.py) put each group's shard and heatmaps into OUT, and the driver gathers only the small
per-instance values. At the end those go, as Results in input order (records.py), into the same
sinks as a local run's: summary.csv, attributions.h5 (here a virtual dataset over the shards,
never copied: sinks/shards.py) and overview.png; the frame then writes run.json (with a
`cluster` section) and report.html. OUT must be on a file system every node shares.

executor.py is what the frame runs; settings.py checks the cluster's options before the plan;
connection.py joins or starts the cluster, after probe.py has checked the head's address (in
seconds, with the token); watch.py watches the head, the nodes and the workers during the run;
figures.py makes run.json's cluster figures.

Faults: Ray restarts a killed actor and retries its group; a retried write makes a new shard and
the driver keeps one row per instance. A killed driver leaves finished shards behind; --resume
reuses a row only when the instance's id and content hash match (igcli's journal, not Ray's
checkpoints, which filter by id alone) and the options' fingerprint is the same."""
