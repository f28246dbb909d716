"""A reference set for expected-gradient baselines (--baseline samples:PATH): an .npy/.npz array
of instances, or images (a folder or a glob) read exactly as the inputs are. Rows are read when
drawn, and kept: a set is drawn from over and over."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from igcli.errors import InstanceError, UsageProblem


class ReferenceSet:
    def __init__(self, path: Path, *, model_shape: tuple, images=None, layout: list | None = None):
        from igcli.data.images import ImageInputs
        from igcli.data.inputs import open_inputs

        self.path = Path(path)
        self._cache: dict[int, np.ndarray] = {}
        self.array: np.ndarray | None
        self.images: ImageInputs | None
        if self.path.is_file() and self.path.suffix.lower() in (".npy", ".npz"):
            from igcli.baselines import load_baseline_file

            data = load_baseline_file(self.path, layout)
            if data.ndim != len(model_shape) + 1 or any(d is not None and d != s for s, d in zip(data.shape[1:], model_shape)):
                raise UsageProblem(f"{self.path}: a reference set of shape {data.shape}; expected [instances, *{tuple(model_shape)}]")
            self.array, self.images = data, None
            self.count = len(data)
        else:
            source = open_inputs(self.path, model_shape=model_shape, images=images)
            if not isinstance(source, ImageInputs):
                raise UsageProblem(f"{self.path}: a reference set is a folder of images, a glob, or an .npy/.npz array")
            self.array, self.images = None, source
            self.count = source.count
        if self.count == 0:
            raise UsageProblem(f"{self.path}: the reference set is empty")

    def __len__(self) -> int:
        return self.count

    def __getstate__(self):  # a plan travels without the rows already read
        return {**self.__dict__, "_cache": {}}

    def get(self, indices: np.ndarray) -> np.ndarray:
        """The rows at these indices, as model inputs: [len(indices), ...]."""
        if self.array is not None:
            return np.asarray(self.array[indices], np.float32)
        images = self.images
        assert images is not None  # a reference set is an array or a folder of images (__init__)
        rows = []
        for index in (int(i) for i in indices):
            if index not in self._cache:
                pixels, error, _, _ = images.decode(index)
                if error is not None:
                    raise InstanceError(f"reference image {images.files[index]}: {error}")
                self._cache[index] = images.options.preprocess.apply(pixels[None])[0]
            rows.append(self._cache[index])
        return np.stack(rows).astype(np.float32)
