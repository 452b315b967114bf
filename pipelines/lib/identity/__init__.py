"""OneID: stable member ids from identity edges (DuckDB, pyarrow, NumPy, SciPy).

Connected components over the edges decide *who is one person*; the previous night's state
decides *which id they keep* — and the rules below make that the id a build of the whole
history at once would mint: member ids are a function of the data, not of the nights it came in.

**Founding order.** Identifiers are ordered by the key (account before hub, ``first_dt`` NULL
last, ``id_type``, ``id_value``). Hubs (`HUB_TYPES`: ``mobile_sha256``, ``wechat_unionid``) are
what accounts point at, and they change hands (a new phone, a number flagged as shared); every
other type is an account. ``first_dt`` is the business day of the identifier's first delivery
(the smallest landing ``_dt`` of any raw row naming it): later rows cannot revise it, unlike
``first_seen_at``, which a member row delivered later can move back. A component's *founder*
is its smallest identifier; a new member's id is minted from it: ``M`` + 15 upper-case hex of
SHA-256(``id_type`` + ``"\x1f"`` + ``id_value``) (`mint_id`). The state records each member's
founder: ``assignments.is_founder`` is true on exactly one identifier per member.

**Which id a component gets.** A previous member's identifiers that fall into a component are
its *part* there. The part holding the member's recorded founder is its *founding part* (when
the founder is no longer an identifier: the part holding most of its identifiers, ties by the
smaller part key); its other parts are *split off*. Of the parts in a component, the one holding
the smallest identifier decides (identifiers new tonight do not compete):

* a founding part: the component keeps that member's id, and the members whose founding parts
  are there too are retired into it (``merges``, reason ``linked_to_older_member``);
* a split-off part, or no part at all: the component mints from its founder, and the members
  whose founding parts are there are retired into the new id.

Every split-off part is logged in ``splits`` (member → the id its part went to). So a member
keeps its id as long as it holds its founder; a member that splits keeps it in the part holding
its founder, and every other part gets the id its own founder mints; of members that merge, the
one founded first survives — which can be a part split off another member the same night.

**Why a full build agrees.** Invariant: a member's id is mint(its founder), and its founder is
the smallest identifier of its component. A ``first_dt`` never changes once delivered, a new
identifier is delivered after every older one, and every member holds an account (every link
has one), so no identifier new tonight comes before a founder: the deciding part holds the
component's founder and the id it gets is mint(founder), what a build of all the days mints. The nightly
path keeps an id a rebuild would not mint only where the data forgot or rewrote the past:

* a member's founder is no longer an identifier (a deleted WeCom contact, erased or withdrawn
  rows): it keeps its id in the fallback part and is re-founded on that component's founder;
  a rebuild mints from that founder;
* an identifier older than a member's founder appears in it (a late file for an old day, an
  account that comes back): the member keeps its id and its founder; a rebuild mints from the
  older identifier (its merges and splits are logged as usual);
* a clash (below), and members written before founders were recorded: their founder is
  derived as the identifier whose `mint_id` (unsalted, then salts ``"1:"``…) is the member id,
  else their smallest identifier.

**Minting.** A minted id never equals an id of the previous state or another id minted the
same night; such a clash (a 60-bit hash collision, or a founder that vanished and came back)
is re-minted with the salt ``"<attempt>:"``. A minted id may equal a *retired* id: the founder
of the retired member founds a component again (a split undoing a merge), and the id comes
back — a full build mints the same, the split log records it, ``stats["revived_ids"]`` counts it.

Inputs and outputs: pyarrow Tables or pandas DataFrames in, pyarrow Tables out (schemas below).
Identifiers are the node rows plus any edge endpoint missing from them; ``first_seen_at``,
``last_seen_at`` and ``first_dt`` come from the node row (an edge-only identifier takes its
earliest / latest edge; the production graph has none: every edge endpoint is a node). A node or
edge table without a ``first_dt`` column (tests, benchmarks) uses the day of ``first_seen_at``.
``assignments`` follows the node table's row order, then edge-only identifiers by (type,
value): its content, not its order, is independent of the input order.

**Component cap** (`cap`). A component of more identifiers than ``max_component_size`` (dbt
var ``identity_max_component_size``, 50) is not glued: its hub (a `HUB_TYPES` identifier) of
highest degree — ties by the founding order — is flagged shared (``component_cap``, listed in
``IdentityResult.shared`` / ``identity.shared_hubs`` → ``marts.shared_identifiers``) and the
component recomputed without it, while a part is above the cap and holds a hub. A flagged hub
is nobody's identifier, exactly as if dbt had flagged it. ``resolve`` without the keyword
applies no cap.

Shape: the rules run on integers. `graph._Graph` holds per identifier only its founding facts
(hub flag, ``first_dt`` day, the rank of its type, first seen) and per edge two node numbers;
the strings are fetched through a `graph._Strings` source for the few rows the rules compare
(founding ties on type and day, merges and splits, hash clashes, migrated states) and for the
founders to mint. Two front ends feed the same core (`resolve._resolve_core`):

* `resolve` (Arrow in, Arrow out; the Spark path and the tests' oracle): each string is hashed
  once, in one DuckDB hash join of every edge endpoint and previous-state row against the node
  table (row number = node number), and the strings stay in the caller's Arrow columns.
* `compact.resolve_in_warehouse` (the DuckDB asset): identifiers get integer keys from the
  persisted dictionary ``identity.identifier_keys`` (appended nightly, never renumbered);
  tonight's identifiers are folded and numbered in a temporary table, edges, previous state and
  output are joined in SQL, and the state is versioned in SQL (`store.write_state` with
  relation names): no Python object and no Python string per identifier. Measured with
  ``benchmarks/bench_identity.py`` (figures in docs/architecture.md, OneID in bounded memory).
  A night resolves only the components its changes reach and carries every other member
  forward, while the graph stored with the previous state allows (compact.py, "Incremental
  nights"; equal to a full night, tested).

After the join everything is integer NumPy work — scatters and gathers over the component
labels, no sort of the identifiers. A kept member's founder is read off the previous state's
``is_founder`` flag (no string compared), founding keys are computed only for the components
that mint, and merges and splits, which are rare, are decided in pandas on just the components
they touch. SHA-256 for minting runs in DuckDB. On the Spark target the same rules run as
DataFrame operations on the cluster (``spark_components.py``: large-star / small-star rounds;
``spark_resolve.py``, ``spark_store.py``), tested against ``resolve``; the component cap is
not applied there yet.
"""

from __future__ import annotations

from pipelines.lib.identity.graph import HUB_TYPES, ID_TYPES, Tabular
from pipelines.lib.identity.minting import mint_id, mint_ids
from pipelines.lib.identity.resolve import (
    ASSIGNMENTS_SCHEMA,
    HISTOGRAM_BUCKETS,
    MEMBERS_SCHEMA,
    SHARED_SCHEMA,
    IdentityResult,
    resolve,
)
from pipelines.lib.identity.state import MERGE_REASON, MERGES_SCHEMA, SPLIT_REASON, SPLITS_SCHEMA

__all__ = [
    "ASSIGNMENTS_SCHEMA",
    "HISTOGRAM_BUCKETS",
    "HUB_TYPES",
    "ID_TYPES",
    "MEMBERS_SCHEMA",
    "MERGES_SCHEMA",
    "MERGE_REASON",
    "SHARED_SCHEMA",
    "SPLITS_SCHEMA",
    "SPLIT_REASON",
    "IdentityResult",
    "Tabular",
    "mint_id",
    "mint_ids",
    "resolve",
]
