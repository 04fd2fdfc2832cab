"""Active learning on balloon: does `studio label next` pick better images to label than chance?

The loop a user runs, through the command line, once for each of ``--seeds`` (default 0 1 2):

1. ``--start`` training images (default 10, chosen at random with the seed) are labelled (their ground
   truth is revealed); ``studio config init`` + ``studio train`` for ``--initial-minutes`` of wall clock
   (default 2.5). This first run is shared by both arms.
2. For ``--rounds`` rounds (default 3), each arm adds ``--per-round`` images (default 10):
   * **ranked**: the first ones ``studio label next ANN --model RUN/last.pt -k K`` prints;
   * **random**: drawn with the seed + 1.
   Before their ground truth is revealed, ``studio label auto RUN/last.pt`` proposes annotations for them, and
   a simulated annotator accepts a proposal unchanged when it overlaps a ground-truth object of the same class
   with IoU >= 0.8 (mask IoU for polygons, else box IoU; one proposal per object): the share of proposals
   accepted unchanged estimates the clicks auto-labelling saves. It is counted at each ``--proposal-thr``
   (default 0.5, the ``label auto`` default, and 0.2: a model trained for minutes from scratch scores low).
   Then the labelled file grows and the arm's run is extended (``studio train RUN/config.yaml --resume
   RUN/last.pt --set train.epochs=+E``). E, the same for both arms, is what ``--minutes-per-round``
   buys at the speed the first run measured (epochs rather than a wall-clock limit, so a busy machine does not
   give one arm less training than the other). Default 1 minute, so three seeds fit in about 35 minutes.
3. After each round, ``studio eval RUN/last.pt`` on balloon val: bbox and segm mAP50 of both arms.

On 13 val images one seed's rounds swing by more than 0.1 mAP50, so the verdict is on the mean over the
seeds. Prints each seed's rounds, then the mean curves, the share of proposals accepted unchanged (per arm
and overall), the seeds, and writes everything as JSON to ``--out``; ``--combine`` gives the same summary
over the seeds of several such files. ``--quick`` runs the same loop on a small synthetic demo set with
tiny budgets (a smoke test: ``tests/e2e/test_label_cli.py`` runs it). Every model here trains from scratch
(no downloaded weights), so the absolute figures are low after a few minutes; the comparison is the point.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BALLOON = REPO.parent / "shared" / "data" / "balloon"
ACCEPT_IOU = 0.8
ARMS = ("ranked", "random")

from studio.core.dataset.model import Dataset, record_images_dir  # noqa: E402
from studio.core.geometry import box_iou, segmentation_to_mask  # noqa: E402
from studio.core.training.run_index import summarize_run  # noqa: E402


def studio(*args, cwd: Path) -> str:
    r = subprocess.run([sys.executable, "-m", "studio", *map(str, args)], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"studio {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r.stdout


# ------------------------------------------------------------------------------------ data
def prepare_data(work: Path, quick: bool) -> tuple[Path, Path, Path]:
    """(pool COCO with ground truth, its images folder, val COCO) in ``work``."""
    if quick:
        studio("dataset", "demo", "-o", "demo", "--train", "24", "--val", "6", "--seed", "0", cwd=work)
        return work / "demo/annotations/train.json", work / "demo/images/train", work / "demo/annotations/val.json"
    for split in ("train", "val"):
        studio("dataset", "import", BALLOON / split / "via_region_data.json", "-o", f"{split}.json", cwd=work)
    return work / "train.json", BALLOON / "train", work / "val.json"


def write_subset(pool: Dataset, ids: list, images: Path, path: Path, *, keep_ann: bool = True) -> Path:
    """The images ``ids`` of ``pool`` (with their ground truth, or none) as a COCO file at ``path``."""
    ds = pool.subset(ids)
    if not keep_ann:
        for a in list(ds.annotations):
            ds.remove_annotation(a["id"])
    record_images_dir(ds, images, path.parent)
    ds.save(path)
    return path


def write_project(pool: Dataset, labelled: set, images: Path, path: Path) -> Path:
    """Every pool image, ground truth only on the ``labelled`` ones (what a half-labelled project looks like)."""
    ds = pool.copy()
    for a in [a for a in ds.annotations if a["image_id"] not in labelled]:
        ds.remove_annotation(a["id"])
    record_images_dir(ds, images, path.parent)
    ds.save(path)
    return path


# ------------------------------------------------------------------------------------ the simulated annotator
def overlap(p: dict, g: dict, h: int, w: int) -> float:
    """Mask IoU when both have polygons, else box IoU."""
    if p["segmentation"] and g["segmentation"] and not isinstance(g["segmentation"], dict):
        a, b = segmentation_to_mask(p["segmentation"], h, w) > 0, segmentation_to_mask(g["segmentation"], h, w) > 0
        union = np.logical_or(a, b).sum()
        return float(np.logical_and(a, b).sum() / union) if union else 0.0
    return box_iou(p["bbox"], g["bbox"])


def accepted_unchanged(proposals: Dataset, truth: Dataset, min_score: float) -> tuple[int, int, int]:
    """(proposals scoring ``min_score`` or more, accepted unchanged, ground-truth objects) over the images of
    ``proposals``: a proposal is accepted when it matches a still unmatched ground-truth object of its class
    with IoU >= ACCEPT_IOU (best scores first, as a reviewer sees them)."""
    n_prop = n_ok = n_gt = 0
    for im in proposals.images:
        props = [a for a in proposals.anns_for_image(im["id"]) if float(a.get("score", 0)) >= min_score]
        props.sort(key=lambda a: -float(a["score"]))
        gts = list(truth.anns_for_image(im["id"]))
        n_prop += len(props)
        n_gt += len(gts)
        free = [True] * len(gts)
        for p in props:
            name = proposals.category(p["category_id"])["name"]
            best, j_best = 0.0, -1
            for j, g in enumerate(gts):
                if free[j] and truth.category(g["category_id"])["name"] == name:
                    iou = overlap(p, g, im["height"], im["width"])
                    if iou > best:
                        best, j_best = iou, j
            if best >= ACCEPT_IOU:
                free[j_best] = False
                n_ok += 1
    return n_prop, n_ok, n_gt


# ------------------------------------------------------------------------------------ one arm's round
def pick(arm: str, work: Path, pool: Dataset, images: Path, labelled: set, k: int, rng) -> list:
    todo = [im["id"] for im in pool.images if im["id"] not in labelled]
    if arm == "random":
        return [todo[i] for i in sorted(rng.choice(len(todo), size=min(k, len(todo)), replace=False))]
    project = write_project(pool, labelled, images, work / "project.json")
    out = studio("label", "next", project, "--model", work / "run" / "last.pt", "-k", k, cwd=work)
    by_name = {im["file_name"]: im["id"] for im in pool.images}
    return [by_name[line.split("\t")[0]] for line in out.strip().splitlines()]


def proposals_for(
    work: Path, pool: Dataset, images: Path, chosen: list, r: int, thresholds: list[float]
) -> dict[str, list[int]]:
    """``studio label auto`` on the chosen images before their ground truth is revealed (at the lowest of
    ``thresholds``); the annotator's verdict at each threshold: {"0.5": [proposals, accepted, objects]}."""
    blank = write_subset(pool, chosen, images, work / f"chosen_{r}.json", keep_ann=False)
    out = work / f"proposals_{r}.json"
    studio("label", "auto", work / "run" / "last.pt", blank, "--score-thr", min(thresholds), "-o", out, cwd=work)
    props = Dataset.load(out)
    return {f"{t:g}": list(accepted_unchanged(props, pool, t)) for t in thresholds}


def evaluate(work: Path, val: Path, tag: str) -> dict:
    studio("eval", work / "run" / "last.pt", "--ann", val, "--out", work / f"eval_{tag}", "--device", "cpu", cwd=work)
    m = json.loads((work / f"eval_{tag}" / "metrics.json").read_text())
    return {k: m.get(k) for k in ("bbox_mAP_50", "segm_mAP_50", "bbox_mAP", "segm_mAP")}


def fmt(v) -> str:
    return "  n/a" if v is None else f"{v:.3f}"


def run_seed(a, seed: int, pool: Dataset, images: Path, val: Path, work: Path, plan: dict) -> dict:
    """One seed's loop in ``work``: the shared first run, then the rounds of both arms; prints as it goes."""
    start, per_round, rounds = plan["start"], plan["per_round"], plan["rounds"]
    ids = [im["id"] for im in pool.images]
    rng0 = np.random.default_rng(seed)
    first = [ids[i] for i in sorted(rng0.choice(len(ids), size=start, replace=False))]
    init = work / "init"
    init.mkdir(parents=True)
    train0 = write_subset(pool, first, images, init / "train.json")
    cfg = ["config", "init", "--train", train0, "--val", val, "-o", init / "cfg.yaml"]
    studio(*cfg, *(["--arch", plan["arch"]] if plan["arch"] else []), cwd=init)
    sets = [
        x
        for kv in [f"train.time_limit={plan['first_s']:g}", f"train.seed={seed}", *plan["overrides"]]
        for x in ("--set", kv)
    ]
    studio("train", init / "cfg.yaml", "--work-dir", init / "run", *sets, cwd=init)
    s = summarize_run(init / "run")
    sec_per_image_epoch = s.duration_s / max(1, s.epochs_done * start)
    base = evaluate(init, val, "0")
    print(
        f"seed {seed}: pool {len(ids)} images, val {val.name}; start {start} labelled, {rounds} rounds of "
        f"{per_round}; first run {s.epochs_done} epochs in {s.duration_s:.0f} s "
        f"({sec_per_image_epoch:.2f} s per image-epoch); work dir {work}",
        flush=True,
    )
    print(f"round 0 (both): bbox mAP50 {fmt(base['bbox_mAP_50'])}  segm mAP50 {fmt(base['segm_mAP_50'])}", flush=True)

    results: dict = {
        "seed": seed,
        "random_seed": seed + 1,
        "start": [pool.image(i)["file_name"] for i in first],
        "round0": base,
        "epochs_first_run": s.epochs_done,
        "rounds": [],
    }
    state = {}
    for arm in ARMS:
        d = work / arm
        d.mkdir()
        shutil.copytree(init / "run", d / "run")
        state[arm] = {
            "dir": d,
            "labelled": set(first),
            "rng": np.random.default_rng(seed + 1),
            "props": {f"{t:g}": [0, 0, 0] for t in a.proposal_thr},
        }
    for r in range(1, rounds + 1):
        n_after = start + r * per_round
        epochs = max(1, round(plan["round_s"] / (sec_per_image_epoch * n_after)))
        row = {"round": r, "labelled": n_after, "epochs": epochs}
        for arm in ARMS:
            st = state[arm]
            d = st["dir"]
            chosen = pick(arm, d, pool, images, st["labelled"], per_round, st["rng"])
            verdict = proposals_for(d, pool, images, chosen, r, a.proposal_thr)
            for t, counts in verdict.items():
                st["props"][t] = [x + y for x, y in zip(st["props"][t], counts)]
            st["labelled"] |= set(chosen)
            train = write_subset(pool, sorted(st["labelled"]), images, d / f"train_{r}.json")
            t0 = time.time()
            studio(
                "train",
                d / "run" / "config.yaml",
                "--resume",
                d / "run" / "last.pt",
                "--work-dir",
                d / "run",
                "--set",
                f"train.epochs=+{epochs}",
                "--set",
                f"data.train.ann={train}",
                "--set",
                f"data.train.images={images}",
                cwd=d,
            )
            m = evaluate(d, val, str(r))
            row[arm] = {
                **m,
                "chosen": [pool.image(i)["file_name"] for i in chosen],
                "objects": sum(len(pool.anns_for_image(i)) for i in chosen),
                "proposals": verdict,  # threshold -> [proposals, accepted unchanged, ground-truth objects]
                "train_s": round(time.time() - t0, 1),
            }
        results["rounds"].append(row)
        rk, rd = row["ranked"], row["random"]
        t0s = f"{a.proposal_thr[0]:g}"
        said = [
            f"{arm} {row[arm]['proposals'][t0s][1]}/{row[arm]['proposals'][t0s][0]} proposals >= {t0s} accepted "
            f"unchanged ({row[arm]['proposals'][t0s][2]} objects)"
            for arm in ARMS
        ]
        print(
            f"seed {seed} round {r} ({n_after} labelled, +{epochs} epochs): "
            f"ranked bbox {fmt(rk['bbox_mAP_50'])} segm {fmt(rk['segm_mAP_50'])} | "
            f"random bbox {fmt(rd['bbox_mAP_50'])} segm {fmt(rd['segm_mAP_50'])} | {'; '.join(said)}",
            flush=True,
        )
    results["props"] = {arm: state[arm]["props"] for arm in ARMS}
    return results


def mean_curves(runs: list[dict]) -> dict:
    """Per arm, per round (0 = the shared first run): the mean over the seeds of each metric."""
    keys = ("bbox_mAP_50", "segm_mAP_50")

    def avg(values: list) -> float | None:
        values = [v for v in values if v is not None]
        return sum(values) / len(values) if values else None

    out = {}
    for arm in ARMS:
        rows = [{k: avg([run["round0"][k] for run in runs]) for k in keys}]
        for i in range(len(runs[0]["rounds"])):
            rows.append({k: avg([run["rounds"][i][arm][k] for run in runs]) for k in keys})
        out[arm] = rows
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the synthetic demo set and tiny budgets (smoke test)")
    ap.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        help="one loop per seed: its first labelled images; its random arm uses seed + 1 (default 0 1 2; quick 0)",
    )
    ap.add_argument("--start", type=int, help="images labelled at the start (default 10; quick 4)")
    ap.add_argument("--per-round", type=int, help="images added per round (default 10; quick 4)")
    ap.add_argument("--rounds", type=int, help="rounds (default 3; quick 2)")
    ap.add_argument("--initial-minutes", type=float, help="first training, wall clock (default 2.5; quick 0.25)")
    ap.add_argument("--minutes-per-round", type=float, help="training per round, as epochs (default 1; quick 0.1)")
    ap.add_argument("--arch", help="architecture (default: what `studio config init` picks; quick: seg_lite)")
    ap.add_argument(
        "--proposal-thr",
        type=float,
        nargs="+",
        default=[0.5, 0.2],
        metavar="T",
        help="score thresholds of `label auto` at which the annotator is simulated (default 0.5 0.2)",
    )
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--work-dir", type=Path, help="keep the runs here (default: a temporary folder)")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    ap.add_argument(
        "--combine",
        type=Path,
        nargs="+",
        metavar="RESULTS.json",
        help="run nothing: the summary over the seeds of earlier runs' --out files (e.g. seeds 0-2 and 3-4)",
    )
    a = ap.parse_args()
    if a.combine:
        return combine(a.combine, a.out)
    q = a.quick
    seeds = a.seeds or ([0] if q else [0, 1, 2])
    plan = {
        "start": a.start or (4 if q else 10),
        "per_round": a.per_round or (4 if q else 10),
        "rounds": a.rounds or (2 if q else 3),
        "first_s": 60 * (a.initial_minutes or (0.25 if q else 2.5)),
        "round_s": 60 * (a.minutes_per_round or (0.1 if q else 1.0)),
        "arch": a.arch or ("seg_lite" if q else None),
        "overrides": (["data.image_size=96", "data.workers=0", "train.batch_size=2"] if q else []) + a.overrides,
    }
    if not q and not (BALLOON / "train" / "via_region_data.json").is_file():
        print(f"balloon not found at {BALLOON} (see ../shared/data/README.md); --quick runs on the demo set")
        return 2

    work = a.work_dir or Path(tempfile.mkdtemp(prefix="studio-active-"))
    work.mkdir(parents=True, exist_ok=True)
    t_all = time.time()
    pool_path, images, val = prepare_data(work, q)
    pool = Dataset.load(pool_path)
    runs = [run_seed(a, seed, pool, images, val, work / f"seed{seed}", plan) for seed in seeds]
    results = summarise(runs, a.proposal_thr, time.time() - t_all)
    results.update({"quick": q, "plan": plan})
    return write_results(results, a.out)


def write_results(results: dict, out: Path | None) -> int:
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2))
        print(f"wrote {out}")
    return 0


def combine(paths: list[Path], out: Path | None) -> int:
    """``--combine``: the summary over every seed of earlier runs' JSON files (the same plan each)."""
    runs, wall, thresholds = [], 0.0, None
    for path in paths:
        try:
            res = json.loads(path.read_text())
            runs += res["runs"]
            wall += res["wall_s"]
            thresholds = thresholds or [float(t) for t in res["accepted_unchanged"]]
        except (OSError, ValueError, KeyError) as e:
            print(f"error: {path}: not a results file of this bench ({e})")
            return 2
    seeds = [run["seed"] for run in runs]
    if len(set(seeds)) != len(seeds):
        print(f"error: a seed appears twice in {', '.join(map(str, paths))}: {seeds}")
        return 2
    return write_results(summarise(runs, thresholds, wall), out)


def summarise(runs: list[dict], thresholds: list[float], wall_s: float) -> dict:
    """Mean curves, wins and accepted-unchanged shares over ``runs`` (one per seed); prints them."""
    seeds = [run["seed"] for run in runs]
    rounds = len(runs[0]["rounds"])
    start = runs[0]["rounds"][0]["labelled"] - len(runs[0]["rounds"][0]["ranked"]["chosen"])
    mean = mean_curves(runs)
    results: dict = {"seeds": seeds, "runs": runs, "mean": mean}

    def share(p: list) -> float | None:
        return p[1] / p[0] if p[0] else None

    shares: dict = {}
    for t in (f"{t:g}" for t in thresholds):
        per_arm = {arm: [sum(v) for v in zip(*(run["props"][arm][t] for run in runs))] for arm in ARMS}
        overall = [sum(v) for v in zip(*per_arm.values())]
        shares[t] = {k: {"share": share(v), "counts": v} for k, v in {**per_arm, "overall": overall}.items()}
    results["accepted_unchanged"] = shares
    results["wall_s"] = round(wall_s, 1)
    keys = ("bbox_mAP_50", "segm_mAP_50")
    wins = {
        k: sum(1 for r in range(1, rounds + 1) if (mean["ranked"][r][k] or 0) > (mean["random"][r][k] or 0))
        for k in keys
    }
    seed_wins = {
        k: [sum(1 for row in run["rounds"] if (row["ranked"][k] or 0) > (row["random"][k] or 0)) for run in runs]
        for k in keys
    }
    results["ranked_wins"] = wins
    results["ranked_wins_per_seed"] = seed_wins

    print(f"\nmean over seeds {', '.join(map(str, seeds))}")
    print("round  labelled  ranked bbox/segm mAP50   random bbox/segm mAP50   ratio bbox/segm   objects ranked/random")
    m0 = mean["ranked"][0]
    print(f"0      {start:<9} {fmt(m0['bbox_mAP_50'])} / {fmt(m0['segm_mAP_50'])}")
    for r in range(1, rounds + 1):
        rk, rd = mean["ranked"][r], mean["random"][r]
        ratio = [f"{(rk[k] or 0) / rd[k]:.2f}x" if rd[k] else "  n/a" for k in keys]
        objs = [sum(run["rounds"][r - 1][arm]["objects"] for run in runs) for arm in ARMS]
        print(
            f"{r:<6} {runs[0]['rounds'][r - 1]['labelled']:<9} "
            f"{fmt(rk['bbox_mAP_50'])} / {fmt(rk['segm_mAP_50'])}          "
            f"{fmt(rd['bbox_mAP_50'])} / {fmt(rd['segm_mAP_50'])}          {ratio[0]} / {ratio[1]}     "
            f"{objs[0]} / {objs[1]}"
        )
    for t, by in shares.items():
        print(
            f"proposals scoring >= {t} accepted unchanged (IoU >= {ACCEPT_IOU}): "
            + ", ".join(
                f"{k} {fmt(v['share'])} ({v['counts'][1]}/{v['counts'][0]}; {v['counts'][2]} objects)"
                for k, v in by.items()
            )
        )
    print(
        f"ranked beats random in {wins['bbox_mAP_50']}/{rounds} rounds (bbox mAP50), "
        f"{wins['segm_mAP_50']}/{rounds} (segm mAP50) on the mean; per seed (bbox, segm): "
        + ", ".join(
            f"seed {s} {seed_wins['bbox_mAP_50'][i]}/{rounds} {seed_wins['segm_mAP_50'][i]}/{rounds}"
            for i, s in enumerate(seeds)
        )
        + f"; random arms use seed + 1; {wall_s / 60:.1f} min"
    )
    return results


if __name__ == "__main__":
    sys.exit(main())
