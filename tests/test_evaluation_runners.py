"""Few-shot and semantic readers and runners; the three `seggpt eval` commands wired to a tiny random model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seggpt.cli.main import main
from seggpt.data.coco import coco20i
from seggpt.data.fewshot import sample_episodes
from seggpt.data.folder import label_map_pairs
from seggpt.data.fss1000 import fss1000
from seggpt.data.voc import pascal5i
from seggpt.evaluation.cache import ResultCache
from seggpt.evaluation.semantic import choose_prompts, evaluate_semantic, from_prediction_labels, to_prompt_labels

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _make_fss(root: Path, classes: tuple[str, ...] = ("cat", "dog"), per_class: int = 4) -> None:
    rng = np.random.default_rng(0)
    for name in classes:
        for n in range(1, per_class + 1):
            mask = np.zeros((16, 16), dtype=np.uint8)
            mask[2 + n : 10 + n, 3:12] = 1  # foreground = 1, as the FSS-1000 example
            _save(root / name / f"{n}.jpg", rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
            _save(root / name / f"{n}.png", np.repeat(mask[..., None], 3, axis=-1))


def test_fss1000_reader_and_deterministic_episodes(tmp_path: Path) -> None:
    _make_fss(tmp_path)
    dataset = fss1000(tmp_path)
    assert dataset.class_names == {0: "cat", 1: "dog"} and len(dataset.items) == 8
    fg, ignore = dataset.read_target(0)
    assert fg.sum() == 72 and ignore is None
    episodes = sample_episodes(dataset, shots=2)
    assert episodes == sample_episodes(dataset, shots=2, seed=0)
    assert episodes != sample_episodes(dataset, shots=2, seed=1)
    for episode in episodes:
        assert episode.query not in episode.supports and len(set(episode.supports)) == 2
        assert {dataset.items[i][1] for i in episode.supports} == {episode.class_id}
    assert [e.query for e in sample_episodes(dataset, 1, num_episodes=10)][8:] == [0, 1]
    with pytest.raises(ValueError, match="at least 5 images per class"):
        sample_episodes(dataset, shots=4)
    (tmp_path / "list.txt").write_text("cat\nbird\n")
    with pytest.raises(FileNotFoundError, match="bird"):
        fss1000(tmp_path, tmp_path / "list.txt")


@pytest.mark.data
@pytest.mark.skipif(not (DATA / "examples" / "fss1000_eiffel").is_dir(), reason="needs ../shared/data/examples")
def test_fss1000_example_folder() -> None:
    dataset = fss1000(DATA / "examples" / "fss1000_eiffel")
    assert list(dataset.class_names.values()) == ["eiffel_tower_support"] and len(dataset.items) == 5
    for i in range(5):
        fg, _ = dataset.read_target(i)
        assert 0 < fg.mean() < 1  # foreground is stored as 1, read with > 0


def test_pascal5i_items_and_ignore(tmp_path: Path) -> None:
    for image_id, classes in (("a", (1, 7)), ("b", (6,)), ("c", (3, 12))):
        mask = np.zeros((8, 8), dtype=np.uint8)
        for k, class_id in enumerate(classes):
            mask[k * 3 : k * 3 + 2] = class_id
        mask[7] = 255
        _save(tmp_path / "SegmentationClass" / f"{image_id}.png", mask)
    (tmp_path / "ImageSets" / "Segmentation").mkdir(parents=True)
    (tmp_path / "ImageSets" / "Segmentation" / "val.txt").write_text("c\na\nb\n")
    fold0, fold1 = pascal5i(tmp_path, 0), pascal5i(tmp_path, 1)
    assert [(p.stem, c) for p, c in fold0.items] == [("a", 1), ("c", 3)]
    assert [(p.stem, c) for p, c in fold1.items] == [("a", 7), ("b", 6)]
    fg, ignore = fold0.read_target(1)
    assert fg.sum() == 16 and ignore is not None and ignore.sum() == 8
    with pytest.raises(ValueError, match=r"fold must be 0\.\.3"):
        pascal5i(tmp_path, 4)


def test_coco20i_classes_follow_category_order(tmp_path: Path) -> None:
    categories = [{"id": 3 * k + 2, "name": f"cat{k}"} for k in range(80)]  # ids 2, 5, 8, ...: classes 1..80 in order

    def box(ann_id: int, image_id: int, class_id: int, x: int) -> dict:
        polygon = [x, 2, x + 4, 2, x + 4, 6, x, 6]
        category = categories[class_id - 1]["id"]
        return {"id": ann_id, "image_id": image_id, "category_id": category, "segmentation": [polygon],
                "area": 16, "bbox": [x, 2, 4, 4], "iscrowd": 0}  # fmt: skip

    images = [{"id": i, "file_name": f"{i}.jpg", "height": 8, "width": 12} for i in (1, 2)]
    annotations = [box(1, 1, 1, 0), box(2, 1, 1, 6), box(3, 1, 2, 0), box(4, 2, 5, 2)]
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    fold0 = coco20i(path, tmp_path, 0)  # classes 1, 5, 9, ...
    assert fold0.class_names[1] == "cat0" and fold0.class_names[5] == "cat4" and len(fold0.class_names) == 20
    assert [(p.name, c) for p, c in fold0.items] == [("1.jpg", 1), ("2.jpg", 5)]
    fg, ignore = fold0.read_target(0)
    assert fg.shape == (8, 12) and ignore is None
    assert fg[:, :6].any() and fg[:, 6:].any()  # both instances of the class in one mask
    assert [c for _, c in coco20i(path, tmp_path, 1).items] == [2]


def _make_semantic(root: Path, split: str, n: int) -> None:
    rng = np.random.default_rng(len(split))
    for i in range(n):
        labels = np.zeros((16, 16), dtype=np.uint8)
        labels[:, 8:] = 1 + i % 2  # classes 0 and 1 or 2
        labels[0] = 3  # ignore
        _save(root / split / f"im{i}.jpg", rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
        _save(root / f"{split}annot" / f"im{i}.png", labels)


def test_semantic_prompts_and_label_shift(tmp_path: Path) -> None:
    _make_semantic(tmp_path, "train", 4)
    pairs = label_map_pairs(tmp_path / "train", tmp_path / "trainannot")
    chosen = choose_prompts([p[1] for p in pairs], 2, num_classes=3, ignore_index=3)
    assert len({i % 2 for i in chosen}) == 2  # one map with class 1 and one with class 2: all 3 covered
    labels = np.array([[0, 2, 3]])
    prompt = to_prompt_labels(labels, ignore_index=3)
    assert prompt.tolist() == [[1, 3, 255]]
    assert from_prediction_labels(np.array([[0, 1, 3]]), num_classes=3).tolist() == [[3, 0, 2]]
    # a background class is black (0) in the prompt and what black decodes back to
    assert to_prompt_labels(labels, ignore_index=3, background=0).tolist() == [[0, 3, 255]]
    assert from_prediction_labels(np.array([[0, 1, 3]]), num_classes=3, background=0).tolist() == [[0, 0, 2]]


def test_semantic_scorer_over_predicted_label_maps(tmp_path: Path) -> None:
    _make_semantic(tmp_path, "val", 2)
    pred = np.zeros((16, 16), dtype=np.uint8)
    pred[:, 12:] = 1  # im0 truth: 0 left, 1 right; im1: 0 left, 2 right; row 0 ignored
    for i in range(2):
        _save(tmp_path / "pred" / f"im{i}.png", pred)
    pairs = label_map_pairs(tmp_path / "val", tmp_path / "valannot")
    cache = ResultCache(tmp_path / "out", {"t": 1})
    cm = evaluate_semantic(pairs, 3, 3, cache, predictions=tmp_path / "pred")
    # class 0: I = 2*120, U = 2*180; class 1: I = 60, U = 120 + 60; class 2: I = 0, U = 120
    iou = np.diag(cm)[:3] / (cm.sum(0) + cm.sum(1) - np.diag(cm))[:3]
    np.testing.assert_allclose(iou, [240 / 360, 60 / 180, 0.0])
    args = ["eval", "semantic", "--images", str(tmp_path / "val"), "--labels", str(tmp_path / "valannot")]
    args += ["--num-classes", "3", "--ignore-index", "3", "--predictions", str(tmp_path / "pred")]
    assert main([*args, "--output", str(tmp_path / "cli")]) == 0
    report = json.loads((tmp_path / "cli" / "semantic.json").read_text())
    assert report["mIoU"] == pytest.approx((240 / 360 + 60 / 180) / 3)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch = pytest.importorskip("torch")
    from seggpt import build_seggpt, get_preset, save_model

    torch.manual_seed(0)
    return save_model(build_seggpt(get_preset("seggpt-test")), tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


def test_eval_commands_run_a_model_end_to_end(tmp_path: Path, tiny_checkpoint: Path) -> None:
    _make_fss(tmp_path / "fss", per_class=3)
    out = tmp_path / "fs"
    fs = ["eval", "fewshot", "--dataset", "fss1000", "--root", str(tmp_path / "fss"), "--shots", "2"]
    assert main([*fs, "--model", str(tiny_checkpoint), "--output", str(out)]) == 0
    report = json.loads((out / "fewshot.json").read_text())
    assert 0 <= report["folds"]["fss1000"]["mIoU"] <= 100 and report["folds"]["fss1000"]["episodes"] == 6
    assert len((out / "fss1000" / "items.jsonl").read_text().splitlines()) == 6

    from test_evaluation_vos import _make_davis

    _make_davis(tmp_path / "davis", num_frames=4)
    vos = ["eval", "vos", "--davis-root", str(tmp_path / "davis"), "--memory", "2"]
    assert main([*vos, "--model", str(tiny_checkpoint), "--output", str(tmp_path / "v")]) == 0
    written = sorted(p.name for p in (tmp_path / "v" / "toy").glob("*.png"))
    assert written == ["00000.png", "00001.png", "00002.png", "00003.png"]
    assert 0 <= json.loads((tmp_path / "v" / "vos.json").read_text())["overall"]["J&F-Mean"] <= 1

    _make_semantic(tmp_path / "cam", "train", 3)
    _make_semantic(tmp_path / "cam", "val", 2)
    sem = ["eval", "semantic", "--num-classes", "3", "--ignore-index", "3", "--num-prompts", "2"]
    sem += ["--images", str(tmp_path / "cam" / "val"), "--labels", str(tmp_path / "cam" / "valannot")]
    sem += ["--train-images", str(tmp_path / "cam" / "train"), "--train-labels", str(tmp_path / "cam" / "trainannot")]
    assert main([*sem, "--model", str(tiny_checkpoint), "--output", str(tmp_path / "s")]) == 0
    assert len(json.loads((tmp_path / "s" / "run.json").read_text())["prompts"]) == 2


@pytest.mark.data
@pytest.mark.skipif(not (DATA / "camvid").is_dir(), reason="needs ../shared/data/camvid")
def test_camvid_truth_scores_100_and_a_constant_map_does_not(tmp_path: Path) -> None:
    pairs = label_map_pairs(DATA / "camvid" / "val", DATA / "camvid" / "valannot")[:10]
    truth = evaluate_semantic(pairs, 11, 11, ResultCache(tmp_path / "a", {}), predictions=DATA / "camvid" / "valannot")
    ious = np.diag(truth)[:11] / np.maximum((truth.sum(0) + truth.sum(1) - np.diag(truth))[:11], 1)
    assert np.all(ious[truth[:11].sum(1) > 0] == 1.0)
    for _, label in pairs:  # everything "Road" (3)
        _save(tmp_path / "road" / label.name, np.full((360, 480), 3, dtype=np.uint8))
    road = evaluate_semantic(pairs, 11, 11, ResultCache(tmp_path / "b", {}), predictions=tmp_path / "road")
    assert road[:, :3].sum() == 0 and road[:11, 3].sum() == road[:11].sum()  # every kept pixel predicted Road
