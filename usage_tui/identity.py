"""Who is running usage-tui, and what they may do (§2.4). No Textual, no SQL here.

The viewer is the directory user whose `login` is the OS login of the process, read from the
process's uid: $USER and $LOGNAME are set by whoever starts the process, so they prove nothing.
`--as USER` / `USAGE_TUI_USER` impersonate, which only an org admin (by OS login) and the OS
owner of the store file may do: the owner can read the whole file anyway, so impersonation
gives them nothing they could not read with sqlite3.

Administrative commands (directory load, budget set, rejects, rebuilding a store) and importing
usage attributed to others need an org admin or the store's owner. Impersonating takes the
impersonated user's rights, no more: `--as bob budget set …` is refused as it would be for bob.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from .directory import Directory, attribute
from .model import Record, Reject
from .query import ScopeError
from .store import UsageStore, record_fingerprint

IMPERSONATION_ENV = "USAGE_TUI_USER"
ROOT_UID = 0


def process_uid() -> int:
    """The real uid of this process (a function, so that tests can play another OS user)."""
    return os.getuid()


def os_login(uid: int | None = None) -> str:
    """The login name of `uid` (default: this process's) from the password database; a uid
    without an entry is named by its number, which no directory login matches by accident."""
    uid = process_uid() if uid is None else uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid-{uid}"


def owns_store(path: str | Path) -> bool:
    """Whether this process's OS user owns the store file (root counts: it reads and writes any
    file whatever its mode). A store that does not exist yet is about to be created by us."""
    uid = process_uid()
    try:
        owner = os.stat(path).st_uid
    except FileNotFoundError:
        return True
    return uid in (owner, ROOT_UID)


@dataclass(frozen=True)
class Identity:
    """The viewer of one command, and whether they may administer the store."""

    viewer: str  # the directory user id the command acts as
    login: str  # the OS login of the process
    impersonating: bool  # viewer came from --as / USAGE_TUI_USER
    owner: bool  # the process's OS user owns the store file
    org_admin: bool  # the viewer is an org admin in the directory

    @property
    def may_administer(self) -> bool:
        """Org admins, and the store's owner when acting as themselves."""
        return self.org_admin or (self.owner and not self.impersonating)

    def require_admin(self, action: str) -> None:
        """ScopeError (exit 3) unless the viewer may administer the store."""
        if not self.may_administer:
            raise ScopeError(f"{self.viewer} may not {action} (org admins or the store's owner only)")


def resolve_identity(directory: Directory, store_path: str | Path, as_user: str | None = None, *,
                     login: str | None = None, owner: bool | None = None) -> Identity:
    """The identity a command runs with. Impersonation by anyone but an org admin or the store's
    owner is a ScopeError naming who tried. `login` and `owner` come from a central store
    (Store.identity_facts): there the login is the database role the server authenticated, and
    the owner the role owning the tables; for a file, the OS login and the file's owner."""
    login = os_login() if login is None else login
    me = directory.user_by_login(login)
    # `directory load` refuses two users with one login; a directory stored before it did may
    # still hold them: which one runs the command is not ours to guess (fail closed).
    same = sorted(u.id for u in directory.users.values() if u.login == login)
    if len(same) > 1:
        raise ScopeError(f"OS login {login} is the login of {len(same)} directory users ({', '.join(same)}): "
                         "refusing to pick one (fix the directory: one login, one user)")
    owner = owns_store(store_path) if owner is None else owner
    wanted = as_user or os.environ.get(IMPERSONATION_ENV) or None
    if me is not None:
        own_id, own_admin = me.id, directory.is_org_admin(me.id)
    else:
        # Not listed by login: the viewer has no role. Their login is not a directory id either:
        # if a directory user has that id (with another login), acting as that id would take
        # that user's roles and usage, so it is refused (fail closed); only the store's owner
        # may still name a viewer with --as.
        own_id, own_admin = login, False
        squatted = directory.users.get(login)
        if squatted is not None and not (owner and wanted is not None and wanted != login):
            raise ScopeError(f'OS login {login} is not in the directory, and the directory user "{login}" '
                             + (f"has login {squatted.login}" if squatted.login else "has no login")
                             + ": refusing to act as them (list your login in the directory)")
    if wanted is None or wanted == own_id:
        return Identity(own_id, login, False, owner, own_admin)
    if not (own_admin or owner):
        how = "--as" if as_user else IMPERSONATION_ENV
        raise ScopeError(f"{own_id} (OS login {login}) may not act as {wanted} with {how}: only org admins "
                         "and the store's owner may")
    return Identity(wanted, login, True, owner, directory.is_org_admin(wanted))


def not_listed_note(directory: Directory, viewer: str) -> str | None:
    """For a viewer the directory does not list (the store's owner role, typically, right
    after creating the store and importing): who they are and the ways in, in place of an
    empty view's "import data". None for a directory user."""
    if viewer in directory.users:
        return None
    admin = next((u for u in sorted(directory.users) if directory.is_org_admin(u)), None)
    org = f" (--as {admin} --scope org: everyone's, as org admin {admin} sees it)" if admin else ""
    return (f"You are {viewer}, not a user of this store's directory: this personal view holds only usage "
            f"attributed to {viewer}. The store's owner sees a user's view with --as USER{org}; a [[users]] entry with login = \"{viewer}\", loaded with `usage-tui directory "
            "load`, makes you a user.")


def attributed_user(record: Record, directory: Directory) -> str | None:
    """§2.3's user of a record (directory.attribute): its user, else its key's owner, else its
    agent's manager."""
    return attribute(directory, user=record.user, team=record.team, key=record.key, agent=record.agent).user


class OwnUsageOnly:
    """A member's import (§2.4) only adds their own usage: records without identity become
    theirs (as `--user` does); a record attributed to someone else is a reject with the reason,
    and so is one that would replace a stored record (someone else's, or their own: re-importing
    their week at $0 would lift their budget). A record identical to the stored one changes
    nothing and passes (re-importing a file is harmless). The good records still import."""

    def __init__(self, member: str, directory: Directory) -> None:
        self.member = member
        self.directory = directory

    def screen(self, store: UsageStore, records: list[Record], source: str) -> tuple[list[Record], list[Reject]]:
        kept: list[Record] = []
        refused: list[Reject] = []
        for record in records:
            owner = attributed_user(record, self.directory)
            if owner is None:
                record.user = self.member
            elif owner != self.member:
                refused.append(self._reject(record, source, f"{self.member} may not import usage attributed to {owner}"))
                continue
            why_not = self._foreign_key_or_team(record)
            if why_not is not None:
                refused.append(self._reject(record, source, why_not))
                continue
            kept.append(record)
        stored = store.stored_versions([r.id for r in kept])  # ids already in the store
        if not stored:
            return kept, refused
        mine: list[Record] = []
        for record in kept:
            if record.id not in stored or stored[record.id][1] == record_fingerprint(record):
                mine.append(record)
                continue
            holder = stored[record.id][0]
            whose = ("their own: only org admins and the store's owner replace stored usage" if holder == self.member
                     else f"attributed to {holder or 'nobody (unattributed)'}")
            refused.append(self._reject(record, source, f'{self.member} may not replace record "{record.id}", {whose}'))
        return mine, sorted(refused, key=lambda j: j.line)

    def teams(self) -> tuple[str, ...]:
        """The member's own teams (none when the directory does not list them)."""
        user = self.directory.users.get(self.member)
        return user.teams if user is not None else ()

    def _foreign_key_or_team(self, record: Record) -> str | None:
        """Why a record attributed to the member still charges someone else, or None: a key the
        directory knows must be the member's own, and a team must be one of theirs."""
        key = self.directory.keys.get(record.key) if record.key is not None else None
        if key is not None and key.owner != self.member:
            whose = f"{key.owner}'s" if key.owner is not None else "not theirs"
            return f'{self.member} may not import usage on key "{record.key}" ({whose}): only their own keys'
        if record.team is not None and record.team not in self.teams():
            return f'{self.member} may not import usage charged to team "{record.team}": only their own teams'
        return None

    @staticmethod
    def _reject(record: Record, source: str, reason: str) -> Reject:
        return Reject(source, record.source_line or 0, reason, record.raw_text)
