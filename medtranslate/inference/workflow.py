"""The objects behind the bundle's ``configs/inference.json``, as MONAI's standard inference workflow properties.

``dataset`` holds one item ``{"image": path}`` per CT input under ``dataset_dir`` (:func:`input_datalist`);
``inferer`` is the :class:`~monai.inferers.SliceInferer` that runs ``network`` over batches of axial slices (2D
and 2.5D models; a :class:`~monai.inferers.SlidingWindowInferer` over 3D patches for 3D models);
``evaluator`` is a MONAI engine (:class:`TranslationEvaluator`) whose every iteration translates and exports one
input with :func:`~medtranslate.inference.translate_path`, the function behind ``medtranslate translate``, so the
bundle and the CLI share one implementation. Loading, the CT window and the exports happen inside that function
(they are the CLI's too), so the bundle defines no separate ``preprocessing``/``postprocessing`` transforms.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from monai.engines import Evaluator
from monai.inferers import Inferer

from medtranslate.errors import InputError, find_user_error
from medtranslate.inference.translate import TranslationReport, find_inputs, translate_path
from medtranslate.inference.volume import make_translator

__all__ = ["TranslationEvaluator", "input_datalist"]

logger = logging.getLogger(__name__)


def input_datalist(dataset_dir: str | os.PathLike | None) -> list[dict[str, str]]:
    """``[{"image": path}, ...]`` for the CT inputs of ``dataset_dir`` (a file, a DICOM series folder or a folder
    of them; see :func:`~medtranslate.inference.find_inputs`); empty when ``dataset_dir`` is empty."""
    if not dataset_dir:
        return []
    return [{"image": str(path)} for path in find_inputs(dataset_dir)]


class TranslationEvaluator(Evaluator):
    """A MONAI evaluator that translates one CT input per iteration and writes its exports into ``output_dir``.

    Args:
        device: where the network runs.
        val_data_loader: batches of one ``{"image": path}`` item (``monai.data.utils.no_collation``).
        network: the CT → MRI generator (``G_A``), loaded, in eval mode.
        inferer: the slice inferer (2D, 2.5D) or sliding-window inferer (3D); its ``roi_size`` is the training
            slice or patch size and ``sw_batch_size`` the slices or patches per forward pass.
        output_dir: folder receiving every output.
        amp: mixed precision (see :class:`~medtranslate.inference.SliceTranslator`).
        val_handlers: Ignite/MONAI handlers attached to this engine (e.g. a progress bar).
        raise_on_failure: after the run, raise an :class:`InputError` listing the inputs that failed, so that
            ``python -m monai.bundle run`` exits non-zero.
        spacing: a 3D model's isotropic voxel size in mm (:func:`~medtranslate.inference.make_translator`).
        options: passed to :func:`~medtranslate.inference.translate_path` (``window``, ``export``, ``slices``,
            ``bit_depth``, ``overwrite``, ``copy_patient_tags``).

    After :meth:`run`, ``report`` is the :class:`~medtranslate.inference.TranslationReport` of the run; each
    iteration's output is ``{"image": source, "outputs": [written paths]}`` (empty for a failed input).
    """

    def __init__(
        self,
        device: torch.device | str,
        val_data_loader: Iterable,
        network: torch.nn.Module,
        inferer: Inferer,
        output_dir: str | os.PathLike,
        amp: bool | None = None,
        val_handlers: Sequence | None = None,
        raise_on_failure: bool = True,
        spacing: float | None = None,
        **options: Any,
    ) -> None:
        super().__init__(device=device, val_data_loader=val_data_loader, val_handlers=val_handlers, decollate=False)
        side = int(inferer.roi_size[0])
        self.translator = make_translator(
            network.to(device),
            image_size=side,
            sw_batch_size=inferer.sw_batch_size,
            device=device,
            amp=amp,
            spacing=spacing,
        )
        self.translator.inferer = inferer
        self.output_dir = Path(output_dir)
        self.options = options
        self.raise_on_failure = raise_on_failure
        self.report = TranslationReport()
        self._protect: list[Path] = []

    def _inputs(self) -> list[Path]:
        return [Path(item["image"]) for batch in self.data_loader for item in batch]

    def _iteration(self, engine: Evaluator, batchdata: list[dict[str, str]]) -> dict[str, Any]:
        """Translate the batch's one input; a user-fixable failure is recorded in ``report`` and the run goes on."""
        (item,) = batchdata
        source = Path(item["image"])
        try:
            network = self.translator.network
            written = translate_path(
                source, self.output_dir, network, translator=self.translator, protect=self._protect, **self.options
            )
        except Exception as exc:
            error = find_user_error(exc)
            if error is None:
                raise
            self.report.failures[source] = str(error)
            logger.info("failed: %s", error)
            return {"image": source, "outputs": []}
        self.report.outputs[source] = written
        return {"image": source, "outputs": written}

    def run(self, global_epoch: int = 1) -> TranslationReport:  # type: ignore[override]
        """Translate every input once; returns the run's report.

        Raises:
            InputError: there are no inputs, or (``raise_on_failure``) some failed.
        """
        self._protect = self._inputs()
        if not self._protect:
            raise InputError(None, "no CT inputs: pass --dataset_dir (a CT file, a DICOM series or a folder of them)")
        self.report = TranslationReport()
        super().run(global_epoch)
        if self.raise_on_failure and self.report.failures:
            raise InputError(None, f"{self.report.summary()}: {'; '.join(self.report.failures.values())}")
        return self.report
