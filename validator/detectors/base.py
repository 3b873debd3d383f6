"""The one small interface every frame detector implements.

The decode loop (``validator.media.source``) decodes each video once and hands
every detector the same ``Frame`` objects (``validator.media.frame``, re-exported
here) in presentation order. A detector keeps only the bounded state it needs
(never the frames themselves), and ``finish()`` returns its events and its
metrics: a frozen dataclass per detector (``Metrics``), read by attribute.

A new detector is one module: subclass ``Detector``, declare its ``event_kinds``
(labels, the reason they raise, thumbnail caption), decorate it with ``@register``
and import the module in ``validator/detectors/__init__.py``.

A detector may read other detectors' findings at the end of the pass: it names
them in ``uses`` and receives them in ``finish(upstream)``; those finish first.
The frames stay the same for all: nothing is passed between detectors per frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, ClassVar

from validator.media.frame import Frame
from validator.models import Event, EventKind

if TYPE_CHECKING:
    from validator.media.probe import MediaInfo
    from validator.policy import Policy


class Metrics:
    """Base of a detector's metrics: each detector declares a frozen dataclass of them
    (``FaceMetrics``, ...), read by attribute; ``to_dict()`` is their JSON shape, the
    fields in declaration order (the report's ``quality`` and ``motion`` are two)."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(slots=True)
class Findings:
    """What a detector reports when the pass is over: events, and its typed metrics."""

    events: list[Event] = field(default_factory=list)
    metrics: Any = None


class Detector:
    """Base class: ``process(frame)`` per frame, ``finish()`` once at the end."""

    #: stable name, used in events and in the report's ``detectors`` section
    name: ClassVar[str] = "detector"
    #: detectors whose findings ``finish`` reads; they finish first
    uses: ClassVar[tuple[str, ...]] = ()
    #: the kinds of the events it reports, with everything the report, the form, the
    #: docs, the thumbnails and the verdicts say of them (``event_kinds()``)
    event_kinds: ClassVar[tuple[EventKind, ...]] = ()

    def __init__(self, media: MediaInfo, policy: Policy) -> None:
        self.media = media
        self.policy = policy

    def process(self, frame: Frame) -> None:
        raise NotImplementedError

    def finish(self, upstream: Mapping[str, Findings] | None = None) -> Findings:
        """Events and metrics of the pass; ``upstream`` holds the findings named in ``uses``
        that ran in this pass (absent ones are missing: work without them)."""
        raise NotImplementedError


REGISTRY: dict[str, type[Detector]] = {}


def register(cls: type[Detector]) -> type[Detector]:
    """Class decorator that adds a detector to the registry under its ``name``."""
    if cls.name in REGISTRY:
        raise ValueError(f"detector name {cls.name!r} registered twice")
    REGISTRY[cls.name] = cls
    return cls


def _module_path(module: str) -> str:
    return module.removeprefix("validator.").replace(".", "/") + ".py"


def event_kinds() -> dict[str, EventKind]:
    """Every event kind a check can report, by ``rank``: the media's (packet timeline,
    provenance) and each registered detector's, ``found_by`` the declaring module.

    Not cached: a detector registered later (a test's) brings its kinds.
    """
    from validator.media import provenance, source, timeline

    declared = [
        (k, _module_path(m.__name__)) for m in (timeline, source, provenance) for k in m.EVENT_KINDS
    ]
    declared += [(k, _module_path(c.__module__)) for c in REGISTRY.values() for k in c.event_kinds]
    out: dict[str, EventKind] = {}
    for k, where in sorted(declared, key=lambda kw: (kw[0].rank, kw[0].kind)):
        if k.kind in out:
            raise ValueError(f"event kind {k.kind!r} declared twice ({where})")
        out[k.kind] = replace(k, found_by=where)
    return out
