"""Score OneID against the generator's ground truth: pairwise precision and recall.

Precision: of all identifier pairs put in one member, the share that belong to one person.
Recall: of all identifier pairs of one person that the landing data *can* link (connected by
truthful links, i.e. links between identifiers of the same person through a hub that is not a
shared number), the share put in one member.

    python benchmarks/score_identity.py --data-dir DIR --warehouse FILE
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pipelines.lib.platform.warehouse import open_connection


def pairs(counts: pd.Series) -> int:
    c = counts.to_numpy(dtype=np.int64)
    return int((c * (c - 1) // 2).sum())


def score(data_dir: Path, warehouse: Path) -> dict:
    truth = pd.read_csv(data_dir / "_truth" / "identifiers.csv", dtype=str)
    con = open_connection(warehouse, read_only=True)
    pred = con.execute("SELECT id_type, id_value, member_id FROM marts.member_identities").df()
    links = con.execute("SELECT left_type, left_value, right_type, right_value "
                        "FROM intermediate.int_identity__links").df()
    con.close()
    key = lambda t, v: t.astype(str) + ":" + v.astype(str)  # noqa: E731
    truth["key"] = key(truth["id_type"], truth["id_value"])
    pred["key"] = key(pred["id_type"], pred["id_value"])
    merged = truth.merge(pred[["key", "member_id"]], on="key", how="inner")
    precision_den = pairs(merged.groupby("member_id").size())
    precision_num = pairs(merged.groupby(["member_id", "person_id"]).size())

    person_of = dict(zip(truth["key"], truth["person_id"], strict=True))
    lk = key(links["left_type"], links["left_value"]).map(person_of)
    rk = key(links["right_type"], links["right_value"]).map(person_of)
    good = lk.notna() & (lk == rk)
    nodes = pd.Index(truth["key"])
    a = nodes.get_indexer(key(links["left_type"], links["left_value"])[good])
    b = nodes.get_indexer(key(links["right_type"], links["right_value"])[good])
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(nodes), len(nodes)))
    _, comp = connected_components(graph, directed=False)
    truth["linkable"] = comp
    m2 = truth.merge(pred[["key", "member_id"]], on="key", how="left")
    recall_den = pairs(m2.groupby("linkable").size())
    recall_num = pairs(m2.dropna(subset=["member_id"]).groupby(["linkable", "member_id"]).size())
    persons_multi = truth.groupby("person_id").size()
    return {
        "identifiers_in_truth": len(truth),
        "identifiers_resolved": len(merged),
        "members": int(pred["member_id"].nunique()),
        "persons": int(truth["person_id"].nunique()),
        "predicted_pairs": precision_den,
        "true_linkable_pairs": recall_den,
        "precision": round(precision_num / precision_den, 5) if precision_den else 1.0,
        "recall": round(recall_num / recall_den, 5) if recall_den else 1.0,
        "persons_with_several_identifiers": int((persons_multi > 1).sum()),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data-dir", required=True, type=Path)
    p.add_argument("--warehouse", required=True, type=Path)
    args = p.parse_args()
    print(json.dumps(score(args.data_dir, args.warehouse), indent=2))


if __name__ == "__main__":
    main()
