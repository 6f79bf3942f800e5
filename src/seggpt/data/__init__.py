"""Datasets on disk: one reader per layout, one image/label reading path (`io`), used by every part of seggpt.

Training (`training.dataset`), tuning (`tuning.datasets`), evaluation (`evaluation.*`) and video I/O
(`inference.video_io`) all read files through this package, so an image or a mask is read the same way
everywhere (`io.load_rgb` / `io.load_mask`: any PIL mode, EXIF orientation) and the DAVIS-2016 rule
("a mask of only 0 and 255 is one object") lives in `io.is_single_object`.

Layouts, one file each: `camvid`, `ade20k`, `voc` (classes, objects, PASCAL-5i), `cityscapes`, `coco`
(instances, COCO-20i), `davis` (2016/2017), `ytvos`, `fss1000`, `folder` (any images/ + masks/ pair).
`sources` holds the sample types they build (`Sample`, `SemanticFolder`, `InstanceImages`, `VideoObjects`),
`fewshot` the few-shot dataset and its episodes. Imports nothing from the rest of seggpt.

Adding a dataset: one file here with its reader; if prompts can be tuned on it (fixed classes), one line in
`CLASS_LAYOUTS` below; if it is a few-shot benchmark, its `FewShotLayout` and one line in `FEWSHOT_LAYOUTS`.
The names in `__all__` are what front ends (the CLI, the web app) import from here.
"""

from seggpt.data.ade20k import ADE20K
from seggpt.data.camvid import CAMVID
from seggpt.data.coco import COCO20I
from seggpt.data.fewshot import FewShotFiles, FewShotLayout
from seggpt.data.fss1000 import FSS1000
from seggpt.data.io import load_mask, load_rgb
from seggpt.data.sources import ClassLayout
from seggpt.data.voc import PASCAL5I, VOC

__all__ = [
    "ADE20K",
    "CAMVID",
    "CLASS_LAYOUTS",
    "COCO20I",
    "FEWSHOT_LAYOUTS",
    "FSS1000",
    "PASCAL5I",
    "VOC",
    "ClassLayout",
    "FewShotFiles",
    "FewShotLayout",
    "load_mask",
    "load_rgb",
]

CLASS_LAYOUTS: dict[str, ClassLayout] = {  # the names `seggpt tune --dataset` accepts (besides "folder")
    "camvid": CAMVID,
    "ade20k": ADE20K,
    "voc": VOC,
}

FEWSHOT_LAYOUTS: dict[str, FewShotLayout] = {  # the names `seggpt eval fewshot --dataset` accepts
    "fss1000": FSS1000,
    "pascal5i": PASCAL5I,
    "coco20i": COCO20I,
}
