"""``iptables-restore --noflush`` text for a ``Ruleset``: whole, or only what changed.

Pure. With ``--noflush``, a ``:CHAIN`` line creates the chain or flushes it if it exists,
and a chain the text does not name is left exactly as it is. So a full sync declares and
fills every ``SKIFF-`` chain; an incremental sync (``previous`` = the ruleset last applied
successfully) rewrites only the chains whose rules changed, and chains that disappeared
are flushed and then deleted (``-X``) after every rule that could jump to them is gone.
Built-in chains are never declared (that would flush them); missing jumps into ours are
inserted with ``-I``.
"""
from __future__ import annotations

from collections.abc import Iterable

from skiff.proxy.rules import PREFIX, TABLES, Jump, Ruleset


def restore_text(rs: Ruleset, *, previous: Ruleset | None = None, stale: dict[str, Iterable[str]] | None = None,
                 missing_jumps: Iterable[Jump] = ()) -> str:
    """The input for one ``iptables-restore --noflush``.

    ``stale``: per table, ``SKIFF-`` chains found in the kernel (on a full sync) that the
    ruleset no longer has. ``missing_jumps``: jumps from built-in chains to insert.
    """
    lines: list[str] = []
    missing = list(missing_jumps)
    for table in TABLES:
        chains = rs.tables[table]
        old = previous.tables[table] if previous is not None else None
        changed = [name for name, rules in chains.items() if old is None or old.get(name) != rules]
        gone = set(stale.get(table, ()) if stale else ())
        if old is not None:
            gone |= {name for name in old if name not in chains}
        gone = {name for name in gone if name.startswith(PREFIX) and name not in chains}
        jumps = [j for j in missing if j.table == table]
        if not changed and not gone and not jumps:
            continue
        lines.append(f"*{table}")
        lines.extend(f":{name} - [0:0]" for name in changed)
        lines.extend(f":{name} - [0:0]" for name in sorted(gone))
        # Insert in reverse so several jumps into one built-in chain end up in JUMPS order, first.
        lines.extend(f"-I {j.chain} 1 {j.rule}" for j in reversed(jumps))
        for name in changed:
            lines.extend(f"-A {name} {rule}" for rule in chains[name])
        lines.extend(f"-X {name}" for name in sorted(gone))
        lines.append("COMMIT")
    return "\n".join(lines) + "\n" if lines else ""
