"""What the bar over the pages proposes next, from what the workspace has: no dataset -> import one; a dataset
but no config -> create one; a config -> train (and label, and import more). Plain Python: the window turns
each step into a button (:class:`studio.gui.common.action_bar.ActionBar`) and runs it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

IMPORT, CREATE_CONFIG, TRAIN, LABEL, NEW_WORKSPACE, DEMO = (
    "import",
    "create_config",
    "train",
    "label",
    "new_workspace",
    "demo",
)


@dataclass(frozen=True)
class Step:
    id: str
    label: str
    primary: bool = False


@dataclass(frozen=True)
class NextSteps:
    message: str  # rich text
    steps: tuple[Step, ...]

    def ids(self) -> list[str]:
        return [s.id for s in self.steps]

    def primary(self) -> str | None:
        return next((s.id for s in self.steps if s.primary), None)


def next_steps(workspace: str, demo: bool, dataset: str | None, config: str | None) -> NextSteps:
    """The message and the steps for a workspace named ``workspace`` (``demo``: the built-in one) whose
    dataset and config (file names) are ``dataset`` and ``config`` (None: it has none)."""
    ws = html.escape(workspace)
    if demo:
        steps = [Step(TRAIN, "Train on the demo", primary=True)] if config is not None else []
        if dataset is not None:
            steps.append(Step(LABEL, "Label images"))
        steps += [Step(IMPORT, "Import your data…", primary=config is None), Step(NEW_WORKSPACE, "New workspace…")]
        return NextSteps(
            "<b>Welcome to Studio.</b> This is the built-in demo workspace: synthetic images of four shape classes "
            "and a ready config, generated offline. Try it, or bring your own data:",
            tuple(steps),
        )
    if dataset is None:
        return NextSteps(
            f"<b>Workspace {ws} has no dataset yet.</b> Import one (COCO, YOLO, Pascal VOC, LabelMe, VIA…) to label "
            "it and train on it.",
            (Step(IMPORT, "Import your data…", primary=True), Step(DEMO, "Open the demo workspace")),
        )
    if config is None:
        return NextSteps(
            f"<b>Next: a training config for {html.escape(dataset)}.</b> It says which model learns from which "
            "images, and for how long.",
            (
                Step(CREATE_CONFIG, "Create config…", primary=True),
                Step(LABEL, "Label images"),
                Step(IMPORT, "Import more data…"),
            ),
        )
    return NextSteps(
        f"<b>Ready to train</b> with {html.escape(config)} on {html.escape(dataset)}.",
        (Step(TRAIN, "Train", primary=True), Step(LABEL, "Label images"), Step(IMPORT, "Import more data…")),
    )


def after_import(dataset: str, config: str | None) -> NextSteps:
    """The offer once a dataset was imported: a config for it (the open one trains on other data)."""
    name = html.escape(dataset)
    why = (
        f"The config {html.escape(config)} trains on other data: create one for {name} to train on it."
        if config is not None
        else f"Create a training config for {name} to train on it."
    )
    return NextSteps(
        f"<b>Imported {name}.</b> {why}",
        (Step(CREATE_CONFIG, "Create config…", primary=True), Step(LABEL, "Label images")),
    )
