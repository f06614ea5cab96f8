"""Steering routes: "steer task T towards class c", one definition for pairs and instruments.

A genre pair is the pairwise task ``pair_<source>_to_<target>`` steered towards its
target on the source genre's prompts; instrument transfer is the one-vs-rest
instrument task steered towards each instrument on a melody-conditioned prompt. The
same rules generate the baseline, steer, score and draw both; only the final table's
layout differs. The DAG and the scripts take every name from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from musicsteer.tasks import instrument_scope, instrument_task_name, pair_task_name

INSTRUMENTS = "instruments"  # the route (and baseline) of instrument transfer


@dataclass(frozen=True)
class Route:
    """One steering job: which task's vectors, towards which classes, on which prompts.

    Attributes:
        name: ``<source>_to_<target>`` for a genre pair, ``instruments`` for transfer.
        task: the probed task whose per-class vectors steer.
        targets: the classes steered towards (one vector each).
        baseline: the unsteered samples it is compared with (shared by routes with the
            same prompts): the source genre, or ``instruments``.
        source: the genre whose prompts are steered (pairs); None for transfer.
        prompts: fixed prompts (transfer); empty: the source genre's prompt file rows.
        melody: condition generation on the rendered melody (MusicGen-Melody).
        label_sets: CLAP label sets to score against, by name.
        headline_labels: the label set the listening pages and figures show.
        display: CLAP display names of labels.
        template: the CLAP zero-shot prompt template.
    """

    name: str
    task: str
    targets: tuple[str, ...]
    baseline: str
    source: str | None = None
    prompts: tuple[str, ...] = ()
    melody: bool = False
    label_sets: Mapping[str, Sequence[str]] = field(default_factory=dict)
    headline_labels: str = "pair"
    display: Mapping[str, str] = field(default_factory=dict)
    template: str = "This is a sound of {}."

    @property
    def title(self) -> str:
        """How pages and figures name the route."""
        return f"{self.source} → {self.targets[0]}" if self.source else "melody → instruments"

    def as_params(self) -> dict:
        """The route as plain data (Snakemake params)."""
        return asdict(self)


def pair_route_name(source: str, target: str) -> str:
    """``<source>_to_<target>``: the route, results folder and listening page of a pair."""
    return f"{source}_to_{target}"


def genre_pair_route(
    source: str, target: str, genres: Sequence[str], display: Mapping[str, str], template: str
) -> Route:
    """Steer the source genre's prompts towards ``target`` with the pair task's vector."""
    return Route(
        name=pair_route_name(source, target),
        task=pair_task_name(source, target),
        targets=(target,),
        baseline=source,
        source=source,
        label_sets={"pair": [source, target], "all": list(genres)},
        headline_labels="pair",
        display=dict(display),
        template=template,
    )


def instrument_route(
    task: str, instruments: Sequence[str], prompts: Sequence[str], template: str
) -> Route:
    """Steer a melody-conditioned prompt towards each instrument of the instrument task."""
    return Route(
        name=INSTRUMENTS,
        task=task,
        targets=tuple(instruments),
        baseline=INSTRUMENTS,
        prompts=tuple(prompts),
        melody=True,
        label_sets={"all": list(instruments)},
        headline_labels="all",
        display={name: name.lower() for name in instruments},
        template=template,
    )


def config_routes(config: Mapping) -> dict[str, Route]:
    """Every route a validated config runs: its genre pairs, then instrument transfer."""
    steering, evaluation = config["steering"], config["evaluation"]
    routes = {}
    for pair in steering["pairs"]:
        route = genre_pair_route(
            pair["source"],
            pair["target"],
            config["data"]["genres"],
            evaluation["display_names"],
            evaluation["template"],
        )
        routes[route.name] = route
    transfer, syntheory = config["instrument_transfer"], config["syntheory"]
    if transfer["enabled"]:
        scope = instrument_scope(
            syntheory["instrument_chords"], syntheory["task_root"], syntheory["task_quality"]
        )
        routes[INSTRUMENTS] = instrument_route(
            instrument_task_name(*scope),
            syntheory["instruments"],
            transfer["prompts"],
            transfer["template"],
        )
    return routes
