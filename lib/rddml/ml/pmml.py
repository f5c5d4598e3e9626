"""PMML export of a k-means model, as Spark MLlib writes it
(``KMeansModel.write().format("pmml")``).

A PMML ``ClusteringModel`` (version 4.4, or 4.3 as Spark 3.5 writes it; center-based,
squared Euclidean comparison, one
``Cluster`` per centre, fields ``field_0`` .. ``field_{d-1}``), the document MLlib's
``KMeansPMMLModelExport`` builds. MLlib writes the squared Euclidean measure for a
cosine model too; its centres (and rddml's) are unit vectors, for which the closest
centre in squared Euclidean distance is the one of largest cosine, so a PMML scorer
assigns the same clusters. The header names rddml as the application.

Examples
--------
>>> print(kmeans_pmml(np.array([[0.5, 0.5]]), timestamp="2025-01-01T00:00:00")
...       .splitlines()[-4])  # doctest: +NORMALIZE_WHITESPACE
<Array n="2" type="real">0.5 0.5</Array>
"""

from __future__ import annotations

import time
from xml.sax.saxutils import quoteattr

import numpy as np

PMML_NAMESPACE = "http://www.dmg.org/PMML-"


def kmeans_pmml(centres: np.ndarray, *, version: str = "4.4", timestamp: str | None = None
                ) -> str:
    """The PMML document of k-means ``centres`` (k, d), in PMML ``version`` (MLlib 4 writes
    4.4, MLlib 3.5 4.3; the document is otherwise the same)."""
    from rddml._version import __version__

    k, d = centres.shape
    when = timestamp or time.strftime("%Y-%m-%dT%H:%M:%S")
    fields = [f"field_{j}" for j in range(d)]
    lines = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
        f'<PMML version="{version}" xmlns="{PMML_NAMESPACE}{version.replace(".", "_")}" '
        'xmlns:data="http://jpmml.org/jpmml-model/InlineTable">',
        '    <Header description="k-means clustering">',
        f'        <Application name="rddml" version={quoteattr(__version__)}/>',
        f"        <Timestamp>{when}</Timestamp>",
        "    </Header>",
        f'    <DataDictionary numberOfFields="{d}">',
        *[f'        <DataField name="{f}" optype="continuous" dataType="double"/>'
          for f in fields],
        "    </DataDictionary>",
        '    <ClusteringModel modelName="k-means" functionName="clustering" '
        f'modelClass="centerBased" numberOfClusters="{k}">',
        "        <MiningSchema>",
        *[f'            <MiningField name="{f}" usageType="active"/>' for f in fields],
        "        </MiningSchema>",
        '        <ComparisonMeasure kind="distance">',
        "            <squaredEuclidean/>",
        "        </ComparisonMeasure>",
        *[f'        <ClusteringField field="{f}" compareFunction="absDiff"/>' for f in fields],
    ]
    for i, centre in enumerate(centres):
        values = " ".join(repr(float(v)) for v in centre)
        lines += [f'        <Cluster name="cluster_{i}">',
                  f'            <Array n="{d}" type="real">{values}</Array>',
                  "        </Cluster>"]
    lines += ["    </ClusteringModel>", "</PMML>"]
    return "\n".join(lines)
