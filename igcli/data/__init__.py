"""Input readers. Each turns INPUTS into a stream of Batch objects, so memory stays flat in the
number of instances.

inputs.py      open_inputs: INPUTS -> the reader that fits it
batch.py       Batch, the reader protocol, content hashes
arrays.py      .npy / .npz arrays (one array per model input for several inputs)
images.py      an image, a folder (recursive) or a glob; decoding, --color, --resize
tables.py      CSV tables
preprocess.py  pixels 0..255 <-> model inputs (--scale, --mean, --std)
ids.py         instance ids, safe as file names inside OUT
"""
