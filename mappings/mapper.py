"""The mapping layer's one entry point for the pipeline and the CLI: HL7 v2 bytes in,
FHIR resources (or a mapping error naming segment and field) out.

Example::

    mapper = Mapper.from_directories(configs_dir=Path("mappings/configs"),
                                     overrides_dir=Path("config/mappings"),
                                     authority_systems={"HOSP": "urn:oid:1.2.36.146.595.217.0.1"})
    result = mapper.map(raw, channel="northside")
"""

from __future__ import annotations

import codecs
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from foundation.code_trace import code_trace
from foundation.errors import CarebridgeError
from mappings.code_tables import CodeTables
from mappings.compiler import Run
from mappings.config_set import DirectoryState, MergedConfig, describe, load_schema_once, merge, refresh
from mappings.datatypes.context import ConversionContext
from mappings.errors import InternalMappingError, MappingError, UnsupportedMessage
from mappings.message_mapping import MessagePlan, ResourceDefinition, Sourced, SourcedCompileError, compile_message
from mappings.result import MappingResult
from mappings.v2.header import MessageHeader, decode_with_header, read_header
from mappings.v2.message import Segment, parse_segments

logger = logging.getLogger(__name__)

#: Identifier system for an assigning authority missing from the authority table.
DEFAULT_SYSTEM = "urn:carebridge:authority:{authority}"
#: Timezone of times sent without an offset, unless a channel's settings say otherwise.
DEFAULT_TIMEZONE = "UTC"


@dataclass
class CompiledChannel:
    """Everything in force for one channel (or the shipped configs alone, channel ``None``)."""

    plans: dict[str, MessagePlan]
    tables: CodeTables
    authority_systems: dict[str, str]
    timezone: ZoneInfo
    #: Decodes every message of the channel, whatever MSH-18 says (channel_settings forced_charset).
    forced_charset: str | None = None


class ChannelProblems(CarebridgeError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def _definitions(message: MergedConfig, maps: dict[str, MergedConfig]) -> list[ResourceDefinition]:
    """A message config's resources with their segment maps' fields merged in (resource fields win)."""
    origin = message.sources[("document",)][0]
    definitions = []
    for resource in message.data.get("resources", []):
        rid = resource["id"]
        r_origin, r_where = message.sources.get(("resources", rid), (origin, ("resources",)))
        map_names = resource.get("map") or []
        map_names = [map_names] if isinstance(map_names, str) else map_names
        definition = ResourceDefinition(id=rid, type=resource.get("type", ""), source=r_origin, where=r_where, raw=resource)
        for name in map_names:
            segment_map = maps.get(name)
            if segment_map is None:
                raise SourcedCompileError(r_origin, r_where + ("map",), f"no segment map named {name!r}")
            definition.type = definition.type or segment_map.data["resource"]
            for key, spec in segment_map.data.get("fields", {}).items():
                definition.fields[key] = Sourced(spec, *segment_map.sources[("fields", key)])
            m_origin = segment_map.sources[("document",)][0]
            definition.identity = [Sourced(i, m_origin, ("identity", n)) for n, i in enumerate(segment_map.data.get("identity", []))] or definition.identity
            definition.require += [Sourced(r, m_origin, ("require", n)) for n, r in enumerate(segment_map.data.get("require", []))]
            definition.dropped.update(segment_map.data.get("dropped", {}))
            definition.accumulate.update(segment_map.data.get("accumulate", {}))
        for key, spec in resource.get("fields", {}).items():
            definition.fields[key] = Sourced(spec, *message.sources[("resources", rid, "fields", key)])
        if "identity" in resource:
            definition.identity = [Sourced(i, r_origin, r_where + ("identity", n)) for n, i in enumerate(resource["identity"])]
        definition.require += [Sourced(r, r_origin, r_where + ("require", n)) for n, r in enumerate(resource.get("require", []))]
        definition.dropped.update(resource.get("dropped", {}))
        definition.accumulate.update(resource.get("accumulate", {}))
        if not definition.type:
            raise SourcedCompileError(r_origin, r_where, "a resource needs type or a segment map")
        definitions.append(definition)
    return definitions


class Mapper:
    """Maps HL7 v2 messages with the configs in force, per channel; reloads edited configs."""

    def __init__(self, configs_dir: Path, overrides_dir: Path | None = None,
                 authority_systems: dict[str, str] | None = None, default_system: str = DEFAULT_SYSTEM,
                 timezone: str = DEFAULT_TIMEZONE, strict: bool = True):
        self.configs_dir = Path(configs_dir)
        self.overrides_dir = Path(overrides_dir) if overrides_dir else None
        self.authority_systems = dict(authority_systems or {})
        self.default_system = default_system
        self.timezone = timezone
        self._schema = load_schema_once()
        self._override_schema = load_schema_once(partial=True)
        self._shipped = DirectoryState()
        self._channels: dict[str, DirectoryState] = {}
        self._compiled: dict[str | None, CompiledChannel] = {}
        self._lock = threading.Lock()
        self._refresh_all(settle=False)
        try:
            self._compiled[None] = self._compile(None)
        except ChannelProblems:
            if strict:
                raise
            # Only for check(): nothing is mapped with configs that do not compile.
            self._compiled[None] = CompiledChannel({}, CodeTables({}), dict(self.authority_systems), ZoneInfo(DEFAULT_TIMEZONE))

    @classmethod
    def from_directories(cls, configs_dir: Path, overrides_dir: Path | None = None,
                         authority_systems: dict[str, str] | None = None,
                         default_system: str = DEFAULT_SYSTEM, timezone: str = DEFAULT_TIMEZONE,
                         strict: bool = True) -> "Mapper":
        """Load and compile the shipped configs; a problem in them raises :class:`ChannelProblems`
        (``strict=False``: no error, nothing maps, :meth:`check` lists the problems).

        Identifier systems: an assigning authority (CX.4 / XCN.9, an HD) with a universal id
        (HD.2) of type ISO becomes ``urn:oid:<HD.2>`` (UUID ``urn:uuid:``, URI/URL as is);
        otherwise its namespace id (HD.1) is looked up in ``authority_systems`` (channel
        settings may add entries), else ``default_system`` is formatted with it. An empty
        authority is taken to be the sending facility (MSH-4).
        """
        return cls(configs_dir, overrides_dir, authority_systems, default_system, timezone, strict)

    # -- loading -------------------------------------------------------------------------

    def _channel_dirs(self) -> dict[str, Path]:
        if not self.overrides_dir or not self.overrides_dir.is_dir():
            return {}
        return {p.name: p for p in sorted(self.overrides_dir.iterdir()) if p.is_dir()}

    def _refresh_all(self, settle: bool = True) -> bool:
        changed = refresh(self.configs_dir, self._shipped, self._schema, settle)
        channel_dirs = self._channel_dirs()
        for name in set(self._channels) - set(channel_dirs):
            del self._channels[name]
            changed = True
        for name, directory in channel_dirs.items():
            changed |= refresh(directory, self._channels.setdefault(name, DirectoryState()), self._override_schema,
                               settle)
        return changed

    def _documents(self, channel: str | None) -> list:
        documents = sorted(self._shipped.documents.values(), key=lambda d: str(d.path))
        if channel is not None and channel in self._channels:
            documents += sorted(self._channels[channel].documents.values(), key=lambda d: str(d.path))
        return documents

    def _compile(self, channel: str | None) -> CompiledChannel:
        documents = self._documents(channel)
        merged = merge(documents)
        tables = {name: m.data for (kind, name), m in merged.items() if kind == "code_table"}
        maps = {name: m for (kind, name), m in merged.items() if kind == "segment_map"}
        authority_systems, timezone, forced_charset = dict(self.authority_systems), self.timezone, None
        problems = []
        for (kind, name), m in merged.items():
            if kind == "channel_settings":
                authority_systems.update(m.data.get("authority_systems", {}))
                timezone = m.data.get("timezone", timezone)
                forced_charset = m.data.get("forced_charset", forced_charset)
        if forced_charset is not None:
            try:
                codecs.lookup(forced_charset)
            except LookupError:
                problems.append(f"channel {channel or '(shipped)'}: unknown forced_charset {forced_charset!r}")
                forced_charset = None
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"channel {channel or '(shipped)'}: unknown timezone {timezone!r}")
            zone = ZoneInfo(DEFAULT_TIMEZONE)
        plans: dict[str, MessagePlan] = {}
        for (kind, name), m in merged.items():
            if kind != "message":
                continue
            try:
                plan = compile_message(name, m.data["handles"], _definitions(m, maps), m.data.get("dropped", {}), set(tables))
            except SourcedCompileError as exc:
                problem = describe(documents, exc.source, exc.where, exc.message)
                if problem not in problems:  # a broken segment map breaks every message using it
                    problems.append(problem)
                continue
            for handled in m.data["handles"]:
                if handled in plans:
                    problems.append(describe(documents, m.sources[("document",)][0], ("handles",),
                                             f"{handled} is already handled by {plans[handled].name}"))
                plans[handled] = plan
        if problems:
            raise ChannelProblems(problems)
        return CompiledChannel(plans, CodeTables(tables), authority_systems, zone, forced_charset)

    def _in_force(self, channel: str | None) -> CompiledChannel:
        compiled = self._compiled.get(channel)
        if compiled is not None:
            return compiled
        if channel is None or channel not in self._channels:
            return self._compiled[None]
        with self._lock:
            try:
                compiled = self._compile(channel)
            except ChannelProblems as exc:
                for problem in exc.problems:
                    logger.error("channel %s overrides refused: %s; the shipped mappings are used", channel, problem)
                compiled = self._compiled[None]
            self._compiled[channel] = compiled
            return compiled

    def reload_if_changed(self) -> bool:
        """Re-read configs whose files changed and have stopped changing (a stat per file; see
        foundation/settled_edits.py), so a file is never read half-written. An invalid file or a set
        that no longer compiles is refused and logged; what was in force stays. Return
        whether a new version is now in force."""
        with self._lock:
            if not self._refresh_all():
                return False
            reloaded = False
            for channel in list(self._compiled):
                try:
                    self._compiled[channel] = self._compile(channel)
                    reloaded = True
                except ChannelProblems as exc:
                    for problem in exc.problems:
                        logger.error("mapping configs refused: %s (the last good version stays in force)", problem)
            for channel in set(self._compiled) - {None} - set(self._channels):
                del self._compiled[channel]
            return reloaded

    def check(self) -> list[str]:
        """Every problem across the shipped configs and each channel's overrides, as
        ``file:line: key.path: message``; empty when all is well."""
        with self._lock:
            self._refresh_all(settle=False)  # a check reports what is on disk now
            problems = [p for ps in self._shipped.problems.values() for p in ps]
            for state in self._channels.values():
                problems += [p for ps in state.problems.values() for p in ps]
            for channel in [None, *self._channels]:
                try:
                    self._compile(channel)
                except ChannelProblems as exc:
                    problems += [p for p in exc.problems if p not in problems]
            return problems

    def message_types(self, channel: str | None = None) -> list[str]:
        """The message types (``ADT^A01``) a channel can map."""
        return sorted(self._in_force(channel).plans)

    # -- mapping -------------------------------------------------------------------------

    def map(self, raw: bytes, channel: str | None = None, default_charset: str = "utf-8",
            header: MessageHeader | None = None) -> MappingResult:
        """Map one message; raise only :class:`MappingError` (or its subclasses): a bug in the
        mapping code is an :class:`InternalMappingError`. ``header`` is the message's MSH when
        the caller read it already (the pipeline does, once per message)."""
        try:
            return self._map(raw, channel, default_charset, header)
        except MappingError:
            raise
        except RecursionError:
            raise MappingError(None, "message too deeply nested to map") from None
        except Exception as exc:
            # A bug, not the sender's fault: logged with the code location, never the values.
            logger.error("mapping failed%s", code_trace(exc))
            raise InternalMappingError(None, f"internal mapping error ({type(exc).__name__})") from None

    def _map(self, raw: bytes, channel: str | None, default_charset: str,
             header: MessageHeader | None) -> MappingResult:
        compiled = self._in_force(channel)
        text, header = decode_with_header(raw, header or read_header(raw), default_charset, compiled.forced_charset)
        segments = parse_segments(text)
        plan = compiled.plans.get(header.message_type) or compiled.plans.get(header.message_code)
        if plan is None:
            raise UnsupportedMessage(header.message_type)
        context = ConversionContext(
            authority_systems=compiled.authority_systems, default_system=self.default_system,
            timezone=compiled.timezone, lookup=compiled.tables.lookup,
            sending_facility=header.sending_facility,
        )
        run = Run(context, segments, header.message_type)
        resources = plan.map(run)
        return MappingResult(header.message_type, resources, _dropped_notes(plan, segments))


def _dropped_notes(plan: MessagePlan, segments: list[Segment]) -> list[str]:
    """Fields this message valued that the config drops on purpose, with the config's reason."""
    notes = []
    for location, reason in plan.dropped.items():
        name, _, number = location.partition("-")
        valued = any(s.name == name and (not number or any(any(any(x for x in c) for c in r) for r in s.field(int(number))))
                     for s in segments)
        if valued:
            notes.append(f"{location} not carried: {reason}")
    return notes
