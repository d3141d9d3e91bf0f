"""SQL of members' profiles (schema version 5) and communities' settings (version 8): one JSON document per
member or community, replaced as a whole. A mixin of :class:`~transactive.store.sql.SqlStore` (every write
commits before it returns)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from transactive.store import _tables as t
from transactive.store._plumbing import SqlPlumbing


class ProfileSqlMixin(SqlPlumbing):
    """``member_profile`` / ``put_member_profile``, ``community_settings`` / ``put_community_settings``;
    :class:`SqlStore` provides the plumbing."""

    def member_profile(self, member: str) -> dict[str, Any] | None:
        """The member's saved profile document, or None when it never saved one."""
        with self._read() as conn:
            text = conn.execute(sa.select(t.member_profiles.c.document)
                                .where(t.member_profiles.c.member == member)).scalar()
        return None if text is None else dict(json.loads(text))

    def put_member_profile(self, member: str, document: Mapping[str, Any], updated_at: str) -> None:
        """Save (replace) the member's profile document."""
        text = json.dumps(dict(document), sort_keys=True, separators=(",", ":"), allow_nan=False)
        with self._write() as conn:
            done = conn.execute(t.member_profiles.update().where(t.member_profiles.c.member == member)
                                .values(document=text, updated_at=updated_at)).rowcount
            if not done:
                conn.execute(t.member_profiles.insert().values(member=member, document=text, updated_at=updated_at))

    def community_settings(self, community: str) -> dict[str, Any] | None:
        """The community's saved settings document (e.g. ``{"time_zone": "Europe/Berlin"}``), or None."""
        with self._read() as conn:
            text = conn.execute(sa.select(t.community_settings.c.document)
                                .where(t.community_settings.c.community == community)).scalar()
        return None if text is None else dict(json.loads(text))

    def put_community_settings(self, community: str, document: Mapping[str, Any], updated_at: str) -> None:
        """Save (replace) the community's settings document."""
        text = json.dumps(dict(document), sort_keys=True, separators=(",", ":"), allow_nan=False)
        table = t.community_settings
        with self._write() as conn:
            done = conn.execute(table.update().where(table.c.community == community)
                                .values(document=text, updated_at=updated_at)).rowcount
            if not done:
                conn.execute(table.insert().values(community=community, document=text, updated_at=updated_at))
