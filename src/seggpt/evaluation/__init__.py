"""Evaluation with the paper's protocols.

`metrics` and `panoptic` are pure numpy (few-shot mIoU / FB-IoU, semantic mIoU, DAVIS J and F, PQ);
`datasets` reads the FSS-1000, PASCAL-5i, COCO-20i, DAVIS and label-map layouts; `fewshot`, `vos` and
`semantic` run and score a model; `cache` makes runs resumable. The CLI is `seggpt eval`.
"""
