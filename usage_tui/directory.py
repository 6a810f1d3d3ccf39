"""The directory (§2.2): who is who. TOML in, validated as a whole, dataclasses out.

Attribution (§2.3) is written once, as the ordered ATTRIBUTION below: `attribute` applies it in
Python, and store/schema.py spells it as the set-based SQL that import and re-attribution after
a directory load run over the directory's tables.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .model import MAX_LIMIT_USD, MAX_PRICE_PER_MTOK, ROLES, WINDOWS, Record, bounded_usd


class DirectoryError(ValueError):
    """The directory file is invalid; the message names the entry and the reason."""


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    admins: tuple[str, ...] = ()
    # The providers' ids of this team's workspace or project (Anthropic `wrkspc_…`, OpenAI
    # `proj_…`): their admin reports name those, and are charged to this team.
    provider_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class User:
    id: str
    name: str
    login: str | None
    role: str
    teams: tuple[str, ...] = ()

    @property
    def primary_team(self) -> str | None:
        return self.teams[0] if self.teams else None


@dataclass(frozen=True)
class Key:
    id: str
    owner: str | None
    team: str | None = None


@dataclass(frozen=True)
class Agent:
    id: str
    manager: str | None


@dataclass(frozen=True)
class Budget:
    user: str
    limit_usd: float
    window: str


@dataclass(frozen=True)
class Price:
    provider: str
    model: str
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float
    # Cache writes (part of the prompt tokens); None: the input price, as before this field.
    cache_write_per_mtok: float | None = None


@dataclass
class Directory:
    org_id: str = "org"
    org_name: str = "Organization"
    timezone: str = "UTC"
    teams: dict[str, Team] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    keys: dict[str, Key] = field(default_factory=dict)
    agents: dict[str, Agent] = field(default_factory=dict)
    budgets: dict[str, Budget] = field(default_factory=dict)
    prices: list[Price] = field(default_factory=list)
    # [[models]]: a model id the sources write → the one model it is (alias → id), so that
    # `claude-sonnet-4-5-20250929` and `claude-sonnet-4-5` are one row, priced as one.
    model_ids: dict[str, str] = field(default_factory=dict)

    def user_by_login(self, login: str) -> User | None:
        for user in self.users.values():
            if user.login == login:
                return user
        return None

    def is_org_admin(self, user_id: str) -> bool:
        user = self.users.get(user_id)
        return user is not None and user.role == "org_admin"

    def team_of_provider_id(self, provider_id: str | None) -> str | None:
        """The team whose `provider_ids` name a provider's workspace or project id, or None."""
        if provider_id:
            for team in self.teams.values():
                if provider_id in team.provider_ids:
                    return team.id
        return None

    def teams_visible_to(self, user_id: str) -> list[str]:
        """Teams whose scope the user may view: all for org admins, else those they administer."""
        if self.is_org_admin(user_id):
            return sorted(self.teams)
        return sorted(t.id for t in self.teams.values() if user_id in t.admins)


# -- attribution (§2.3) ------------------------------------------------------------------------------
ATTRIBUTED_USER = "attributed user"  # a source's field: the user attribution found (for the team)


@dataclass(frozen=True)
class Source:
    """Where an attributed value may come from: a field of the record as its source said it
    ("user", "team", "key", "agent"), or ATTRIBUTED_USER; with `entries`, that value names an
    entry of the directory's table of that name ("keys", "agents", "users") whose `attribute`
    gives the value."""
    field: str
    entries: str | None = None
    attribute: str | None = None


# The order: each attributed value is the first of its sources that is set (NULL/None is unset).
ATTRIBUTION: dict[str, tuple[Source, ...]] = {
    # the request's identity, else its key's owner, else its agent's manager
    "user": (Source("user"), Source("key", "keys", "owner"), Source("agent", "agents", "manager")),
    # the team the request names, else its key's team, else the attributed user's primary team
    "team": (Source("team"), Source("key", "keys", "team"), Source(ATTRIBUTED_USER, "users", "primary_team")),
}


@dataclass(frozen=True)
class Attribution:
    user: str | None
    team: str | None
    user_source: Source | None  # the source each came from (None: unset)
    team_source: Source | None


def attribute(directory: Directory, *, user: str | None, team: str | None, key: str | None,
              agent: str | None) -> Attribution:
    """§2.3 in Python, from what the source said: the same answer as the store's SQL
    (store.schema.attribution_sql) over the same directory."""
    said = {"user": user, "team": team, "key": key, "agent": agent}
    found: dict[str, tuple[str | None, Source | None]] = {}
    for target, sources in ATTRIBUTION.items():
        found[target] = (None, None)
        for source in sources:
            value = found["user"][0] if source.field == ATTRIBUTED_USER else said[source.field]
            if value is not None and source.entries is not None:
                entry = getattr(directory, source.entries).get(value)
                value = getattr(entry, source.attribute) if entry is not None else None
            if value is not None:
                found[target] = (value, source)
                break
    return Attribution(found["user"][0], found["team"][0], found["user"][1], found["team"][1])


if TYPE_CHECKING:
    from .model import HistoryRecord

# How each source is named in an explanation ({v}: the value, {by}: what the record said).
_HOW = {
    ("user", "user"): "user {v} (the request's identity)",
    ("user", "key"): "user {v}, via key {by} (owner {v})",
    ("user", "agent"): "user {v}, via agent {by} (manager {v})",
    ("team", "team"): "team {v} (named by the request)",
    ("team", "key"): "team {v}, via key {by}",
    ("team", ATTRIBUTED_USER): "team {v}, primary team of {by}",
}


def _why_unset(directory: Directory, source: Source, said: str | None) -> str:
    if said is None:
        return f"no {source.field}"
    if source.entries is None or getattr(directory, source.entries).get(said) is None:
        return f"{source.field} {said} is not in the directory"
    return f"{source.field} {said} has no {source.attribute}"


def explain_attribution(directory: Directory, record: HistoryRecord) -> str:
    """How §2.3 attributed a record, in words: `user bob, via key k1 (owner bob); team web, via
    key k1`. The same order as the store's SQL (ATTRIBUTION), from what the source
    said. If the stored result differs (the directory changed and the store was not
    re-attributed), the stored value is what every number uses, so that is what is named."""
    said = {"user": record.user_raw, "team": record.team_raw, "key": record.key, "agent": record.agent}
    stored_user, stored_team = record.user, record.team
    found = attribute(directory, **said)
    user, team = found.user, found.team
    said[ATTRIBUTED_USER] = user
    if found.user_source is not None:
        user_how = _HOW["user", found.user_source.field].format(v=user, by=said[found.user_source.field])
    else:
        user_how = "unattributed ({})".format(", ".join(_why_unset(directory, source, said[source.field])
                                                       for source in ATTRIBUTION["user"]))
    if found.team_source is not None:
        team_how = _HOW["team", found.team_source.field].format(v=team, by=said[found.team_source.field])
    else:
        team_how = "no team"
    if (stored_user, stored_team) != (user, team):
        if stored_user != user:
            user_how = f"user {stored_user}" if stored_user else "unattributed"
        if stored_team != team:
            team_how = f"team {stored_team}" if stored_team else "no team"
        team_how += " (as stored; the directory has changed since)"
    return f"{user_how}; {team_how}"


def _str(entry: dict[str, Any], name: str, where: str, required: bool = True) -> str | None:
    value = entry.get(name)
    if value is None:
        if required:
            raise DirectoryError(f"{where}: missing `{name}`")
        return None
    if not isinstance(value, str) or not value:
        raise DirectoryError(f"{where}: `{name}` must be a non-empty string")
    return value


def _number(entry: dict[str, Any], name: str, where: str, default: float | None = None, *,
            maximum: float = MAX_PRICE_PER_MTOK) -> float:
    value = entry.get(name, default)
    if value is None:
        raise DirectoryError(f"{where}: missing `{name}`")
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise DirectoryError(f"{where}: `{name}` must be a number >= 0")
    # TOML has inf and nan, and an int may be any size: bounded like `budget set` takes them.
    number = math.inf if isinstance(value, int) and value > 1e300 else float(value)  # float(10**400) raises
    problem = bounded_usd(number, maximum)
    if problem:
        raise DirectoryError(f"{where}: `{name}` {problem}")
    return number


def _str_list(entry: dict[str, Any], name: str, where: str) -> tuple[str, ...]:
    value = entry.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise DirectoryError(f"{where}: `{name}` must be a list of strings")
    return tuple(value)


def _tables(doc: dict[str, Any], name: str) -> list[tuple[str, dict[str, Any]]]:
    entries = doc.get(name, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise DirectoryError(f"[[{name}]] must be an array of tables")
    return [(f"{name}[{i}]", e) for i, e in enumerate(entries)]


def _named(where: str, entry_id: str | None) -> str:
    return f'{where} ("{entry_id}")' if entry_id else where


def parse_directory(doc: dict[str, Any]) -> Directory:
    """Build and validate a Directory from parsed TOML. Raises DirectoryError on the first problem."""
    d = Directory()
    org = doc.get("org", {})
    if not isinstance(org, dict):
        raise DirectoryError("[org] must be a table")
    d.org_id = _str(org, "id", "[org]", required=False) or d.org_id
    d.org_name = _str(org, "name", "[org]", required=False) or d.org_name
    d.timezone = _str(org, "timezone", "[org]", required=False) or "UTC"
    try:
        ZoneInfo(d.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise DirectoryError(f'[org]: unknown time zone "{d.timezone}"') from None

    def add(target: dict, where: str, entry_id: str, value: Any) -> None:
        if entry_id in target:
            raise DirectoryError(f'{where}: duplicate id "{entry_id}"')
        target[entry_id] = value

    for where, e in _tables(doc, "teams"):
        tid = _str(e, "id", where)
        add(d.teams, where, tid, Team(tid, _str(e, "name", where, False) or tid,
                                      _str_list(e, "admins", _named(where, tid)),
                                      _str_list(e, "provider_ids", _named(where, tid))))
    provider_teams: dict[str, str] = {}
    for team in d.teams.values():
        for pid in team.provider_ids:
            if provider_teams.setdefault(pid, team.id) != team.id:
                raise DirectoryError(f'teams ("{team.id}"): provider id "{pid}" is already '
                                     f'team "{provider_teams[pid]}"\'s')
    for where, e in _tables(doc, "users"):
        uid = _str(e, "id", where)
        w = _named(where, uid)
        role = e.get("role", "member")
        if role not in ROLES:
            raise DirectoryError(f'{w}: role "{role}" is not one of {", ".join(ROLES)}')
        teams = _str_list(e, "teams", w)
        for t in teams:
            if t not in d.teams:
                raise DirectoryError(f'{w}: team "{t}" is not a team')
        add(d.users, where, uid,
            User(uid, _str(e, "name", w, False) or uid, _str(e, "login", w, False), role, teams))
    for team in d.teams.values():
        for admin in team.admins:
            if admin not in d.users:
                raise DirectoryError(f'teams ("{team.id}"): admin "{admin}" is not a user')
    for where, e in _tables(doc, "keys"):
        kid = _str(e, "id", where)
        w = _named(where, kid)
        owner = _str(e, "owner", w, False)
        if owner is not None and owner not in d.users:
            raise DirectoryError(f'{w}: owner "{owner}" is not a user')
        team = _str(e, "team", w, False)
        if team is not None and team not in d.teams:
            raise DirectoryError(f'{w}: team "{team}" is not a team')
        add(d.keys, where, kid, Key(kid, owner, team))
    for where, e in _tables(doc, "agents"):
        aid = _str(e, "id", where)
        w = _named(where, aid)
        manager = _str(e, "manager", w, False)
        if manager is not None and manager not in d.users:
            raise DirectoryError(f'{w}: manager "{manager}" is not a user')
        add(d.agents, where, aid, Agent(aid, manager))
    for where, e in _tables(doc, "budgets"):
        uid = _str(e, "user", where)
        w = _named(where, uid)
        if uid not in d.users:
            raise DirectoryError(f'{w}: user "{uid}" is not a user')
        window = e.get("window")
        if window not in WINDOWS:
            raise DirectoryError(f'{w}: window "{window}" is not one of {", ".join(WINDOWS)}')
        add(d.budgets, where, uid, Budget(uid, _number(e, "limit_usd", w, maximum=MAX_LIMIT_USD), window))
    seen_prices: set[tuple[str, str]] = set()
    for where, e in _tables(doc, "prices"):
        provider, model = _str(e, "provider", where), _str(e, "model", where)
        w = f'{where} ("{provider}/{model}")'
        if (provider, model) in seen_prices:
            raise DirectoryError(f"{w}: duplicate price")
        seen_prices.add((provider, model))
        inp = _number(e, "input_per_mtok", w)
        d.prices.append(Price(provider, model, inp, _number(e, "output_per_mtok", w),
                              _number(e, "cached_input_per_mtok", w, default=inp),
                              _number(e, "cache_write_per_mtok", w, default=inp)))
    _parse_models(doc, d)
    return d


MAX_MODEL_ALIASES = 10_000  # aliases in all: the directory is read on every store open


def _parse_models(doc: dict[str, Any], d: Directory) -> None:
    """`[[models]] id = "claude-sonnet-4-5", aliases = ["claude-sonnet-4-5-20250929"]`: each
    alias folds into its id. An id is no one's alias, and an alias belongs to one model."""
    ids: set[str] = set()
    for where, e in _tables(doc, "models"):
        mid = _str(e, "id", where)
        w = _named(where, mid)
        if mid in ids:
            raise DirectoryError(f'{where}: duplicate id "{mid}"')
        ids.add(mid)
        for alias in _str_list(e, "aliases", w):
            if alias in d.model_ids or alias in ids:
                other = d.model_ids.get(alias, alias)
                raise DirectoryError(f'{w}: alias "{alias}" is already ' + (
                    f'an alias of "{other}"' if alias in d.model_ids else "a model id"))
            if len(d.model_ids) >= MAX_MODEL_ALIASES:
                raise DirectoryError(f"{w}: more than {MAX_MODEL_ALIASES:,} model aliases")
            d.model_ids[alias] = mid
    clash = next((m for m in ids if m in d.model_ids), None)
    if clash is not None:
        raise DirectoryError(f'[[models]]: "{clash}" is a model id and an alias of "{d.model_ids[clash]}"')


def fold_model(directory: Directory, record: Record) -> Record:
    """The record under the model id the directory folds its id into, the id it said kept in
    its metadata as `model_id` (the history shows it); the record itself when not an alias."""
    folded = directory.model_ids.get(record.model)
    if folded is None:
        return record
    return replace(record, model=folded, metadata={**record.metadata, "model_id": record.model})


# Every table and key the directory knows (§2.2). Anything else is a typo until proven
# otherwise: `[[budget]]` or `rol = "org_admin"` would otherwise be dropped without a word.
SCHEMA: dict[str, frozenset[str]] = {
    "org": frozenset(("id", "name", "timezone")),
    "teams": frozenset(("id", "name", "admins", "provider_ids")),
    "users": frozenset(("id", "name", "login", "role", "teams")),
    "keys": frozenset(("id", "owner", "team")),
    "agents": frozenset(("id", "manager")),
    "budgets": frozenset(("user", "limit_usd", "window")),
    "prices": frozenset(("provider", "model", "input_per_mtok", "output_per_mtok", "cached_input_per_mtok",
                        "cache_write_per_mtok")),
    "models": frozenset(("id", "aliases")),
}


def _did_you_mean(word: str, choices: Iterable[str], shown: str = "{}") -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {shown.format(close[0])}?)" if close else ""


def check_known_names(doc: dict[str, Any]) -> None:
    """Unknown tables and keys, and two users with one login, are errors (a file being loaded;
    a directory already in a store is read as it is)."""
    for table in doc:
        if table not in SCHEMA:
            brackets = "[{}]" if isinstance(doc[table], dict) else "[[{}]]"
            hint = _did_you_mean(table, SCHEMA, brackets)
            raise DirectoryError(f"unknown table {brackets.format(table)}{hint}; "
                                 f"known: [org], {', '.join(f'[[{t}]]' for t in SCHEMA if t != 'org')}")
    for table, known in SCHEMA.items():
        entries = doc.get(table)
        if isinstance(entries, dict):
            entries = [(f"[{table}]", entries)]
        elif isinstance(entries, list):
            entries = [(_named(f"{table}[{i}]", e.get("id") or e.get("user") if isinstance(e, dict) else None), e)
                       for i, e in enumerate(entries)]
        else:
            continue
        for where, entry in entries:
            if not isinstance(entry, dict):
                continue  # parse_directory names the shape problem
            for key in entry:
                if key not in known:
                    raise DirectoryError(f"{where}: unknown key `{key}`{_did_you_mean(key, known, '`{}`')}; "
                                         f"known: {', '.join(sorted(known))}")
    logins: dict[str, str] = {}
    for i, user in enumerate(doc.get("users", []) if isinstance(doc.get("users"), list) else []):
        login = user.get("login") if isinstance(user, dict) else None
        if isinstance(login, str) and login:
            if login in logins:
                raise DirectoryError(f'{_named(f"users[{i}]", user.get("id"))}: login "{login}" is already '
                                     f'the login of "{logins[login]}" (one login, one user: it says who runs usage-tui)')
            logins[login] = user.get("id")


def read_directory_doc(path: str | Path) -> dict[str, Any]:
    """Read, parse and validate a directory TOML file; the document as loaded. Errors are one
    DirectoryError naming the file: unreadable, not UTF-8, not TOML, nested too deeply (tomllib
    recurses), an unknown table or key, or an invalid entry."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise DirectoryError(f"{path}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise DirectoryError(f"{path}: not UTF-8 text (line {line}: {exc.reason})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DirectoryError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise DirectoryError(f"{path}: not a directory: arrays or tables nested too deeply") from None
    try:
        check_known_names(doc)
        parse_directory(doc)
    except DirectoryError as exc:
        raise DirectoryError(f"{path}: {exc}") from None
    return doc


def load_directory_file(path: str | Path) -> Directory:
    """Read and validate a directory TOML file; errors name the file."""
    return parse_directory(read_directory_doc(path))

