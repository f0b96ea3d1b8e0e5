"""Where a durable run's time went (`FLOOR_BENCH_PROFILE=1`), read from the workflow histories:
every workflow task and activity (local ones too, as markers), when it was scheduled, how long
it waited to be picked up and how long it ran, and per workflow the totals."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime


@dataclass
class Span:
    workflow: str
    name: str
    scheduled: float  # seconds from the run's start
    started: float
    finished: float

    @property
    def waited(self) -> float:
        return self.started - self.scheduled

    @property
    def ran(self) -> float:
        return self.finished - self.started


def _short(workflow_id: str) -> str:
    return workflow_id.split("/")[-1][:16]


async def history_spans(client, workflow_ids: list[str], at: datetime) -> list[Span]:
    """Workflow tasks and activities of these workflows' latest runs, timed from `at`."""
    spans = []
    for workflow_id in workflow_ids:
        opened: dict[int, tuple[str, float]] = {}
        started: dict[int, float] = {}
        async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
            t = (event.event_time.ToDatetime().replace(tzinfo=at.tzinfo) - at).total_seconds()
            if event.HasField("activity_task_scheduled_event_attributes"):
                opened[event.event_id] = (event.activity_task_scheduled_event_attributes.activity_type.name, t)
            elif event.HasField("workflow_task_scheduled_event_attributes"):
                opened[event.event_id] = ("workflow task", t)
            elif event.HasField("activity_task_started_event_attributes"):
                started[event.activity_task_started_event_attributes.scheduled_event_id] = t
            elif event.HasField("workflow_task_started_event_attributes"):
                started[event.workflow_task_started_event_attributes.scheduled_event_id] = t
            elif event.HasField("activity_task_completed_event_attributes"):
                sid = event.activity_task_completed_event_attributes.scheduled_event_id
                spans.append(Span(_short(workflow_id), opened[sid][0], opened[sid][1], started[sid], t))
            elif event.HasField("workflow_task_completed_event_attributes"):
                sid = event.workflow_task_completed_event_attributes.scheduled_event_id
                if sid in opened and sid in started:
                    spans.append(Span(_short(workflow_id), "workflow task", opened[sid][1], started[sid], t))
            elif (
                event.HasField("marker_recorded_event_attributes")
                and event.marker_recorded_event_attributes.marker_name == "core_local_activity"
            ):  # a local activity: it ran inside its workflow task
                spans.append(Span(_short(workflow_id), "local activity", t, t, t))
    return spans


def print_profile(title: str, wall_s: float, spans: list[Span], timeline: bool = True) -> None:
    """The run's wall time against the time an activity was running; per workflow its tasks'
    count, wait and run; then (with `timeline`) every span in order."""
    activities = [s for s in spans if s.name not in ("workflow task", "local activity")]
    busy, end = 0.0, 0.0
    for s in sorted(activities, key=lambda s: s.started):  # union of the running intervals
        busy += max(0.0, s.finished - max(s.started, end))
        end = max(end, s.finished)
    print(f"{title}: {wall_s:.3f} s; activities running {busy:.3f} s, the rest {wall_s - busy:.3f} s")
    per: dict[str, list[Span]] = defaultdict(list)
    for s in spans:
        per[s.workflow].append(s)
    for workflow, mine in per.items():
        tasks = [s for s in mine if s.name == "workflow task"]
        acts = [s for s in mine if s.name not in ("workflow task", "local activity")]
        local = sum(1 for s in mine if s.name == "local activity")
        print(
            f"  {workflow:16} {len(tasks):4} workflow tasks: waited {sum(s.waited for s in tasks):6.3f} s,"
            f" ran {sum(s.ran for s in tasks):6.3f} s; {len(acts):4} activities: waited"
            f" {sum(s.waited for s in acts):6.3f} s, ran {sum(s.ran for s in acts):6.3f} s; {local} local activities"
        )
    if not timeline:
        by_name: dict[tuple[str, str], list[Span]] = defaultdict(list)
        for s in spans:
            by_name[(s.workflow, s.name)].append(s)
        for (workflow, name), mine in sorted(by_name.items(), key=lambda kv: -sum(s.ran for s in kv[1])):
            print(
                f"    {workflow:16} {name:22} {len(mine):5} x  waited {sum(s.waited for s in mine):6.3f} s,"
                f" ran {sum(s.ran for s in mine):6.3f} s"
            )
        return
    for s in sorted(spans, key=lambda s: (s.scheduled, s.started)):
        print(f"  +{s.scheduled:6.3f} s {s.workflow:16} {s.name:22} waited {s.waited:6.3f} s, ran {s.ran:6.3f} s")
