"""The sweep's report without Spark: sizes and variants checked, the log-log plot with its
slope-1 reference line, and the tables."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from rddml.bench.sweep import (
    check_sweep_variants,
    parse_count,
    plot_seconds_vs_n,
    sweep_markdown,
    write_sweep_plot,
)
from rddml.errors import ConfigError

NS = [100_000, 1_000_000, 10_000_000, 50_000_000]
VARIANTS = {"rddml tree": 3e-8, "pyspark.ml block": 1e-7, "fused floor (2 threads)": 1.5e-8}


def _sweep() -> dict[str, Any]:
    rows = []
    for n in NS:
        sec = {name: per_point * n + 0.05 for name, per_point in VARIANTS.items()}
        rows.append({"n": n, "partitions": 2, "rounds": 5 if n < 10_000_000 else 3, "warmup": 1,
                     "seconds_per_iteration": sec, "samples": {k: [v] for k, v in sec.items()},
                     "rddml_over_pyspark_ml": sec["rddml tree"] / sec["pyspark.ml block"],
                     "raw_bytes": 16 * n, "storage": "executor",
                     "bytes_held_by_storage": {"executor": 16 * n + 1000},
                     "peak_rss": {"driver_python_mib": 900.0, "driver_jvm_mib": 4000.0,
                                  "python_workers_mib": [410.0, 400.0]}})
    return {"d": 2, "k": 5, "variants": ["rddml tree", "pyspark.ml block", "fused floor"],
            "sizes": rows}


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    import matplotlib.pyplot as plt  # after the code under test chose the Agg backend

    plt.close("all")


def test_plot_is_log_log_with_one_line_per_variant() -> None:
    fig = plot_seconds_vs_n(_sweep())
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    lines = {line.get_label(): line for line in ax.get_lines()}
    for name, per_point in VARIANTS.items():
        xs, ys = lines[name].get_data()
        assert list(xs) == NS and lines[name].get_marker() == "o"
        np.testing.assert_allclose(ys, per_point * np.array(NS) + 0.05, rtol=1e-12)


def test_reference_line_has_slope_one_through_rddml_at_1e7() -> None:
    fig = plot_seconds_vs_n(_sweep())
    (ref,) = [line for line in fig.axes[0].get_lines() if line.get_label().startswith("slope 1")]
    assert ref.get_linestyle() == "--"
    xs, ys = (np.asarray(v, dtype=float) for v in ref.get_data())
    assert (xs[0], xs[-1]) == (NS[0], NS[-1])
    slope = np.diff(np.log(ys)) / np.diff(np.log(xs))
    np.testing.assert_allclose(slope, 1.0, rtol=1e-12)
    at_1e7 = 3e-8 * 1e7 + 0.05  # rddml tree's point at n = 1e7
    np.testing.assert_allclose(np.interp(1e7, xs, ys), at_1e7, rtol=1e-12)


def test_plot_written_as_png(tmp_path: Any) -> None:
    path = tmp_path / "vs_n.png"
    write_sweep_plot(path, _sweep())
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_tables_give_each_size_and_ratio_and_memory() -> None:
    text = "\n".join(sweep_markdown(_sweep()))
    assert "| n | rounds | rddml tree | pyspark.ml block | fused floor (2 threads) | ratio |" in text
    row = next(line for line in text.splitlines() if line.startswith("| 50,000,000 | 3 |"))
    assert row.endswith(f"| {(3e-8 * 5e7 + 0.05) / (1e-7 * 5e7 + 0.05):.2f} |")
    assert "| 100,000 | 900 | 4000 | 410+400 | executor 1,601,000 (1.001×) |" in text
    assert "≤ 0" not in text  # no note about pair differences below the noise


@pytest.mark.parametrize("text", ["1e", "x", "-5", "1.5e6", "0"])
def test_bad_size_names_key_and_value(text: str) -> None:
    with pytest.raises(ConfigError, match=rf"sweep_sizes: .*got '{text}'"):
        parse_count(text, "sweep_sizes")


def test_size_forms() -> None:
    assert parse_count("5e7", "k") == 50_000_000 and parse_count("250000", "k") == 250_000


@pytest.mark.parametrize(("variants", "message"), [
    ([], r"at least one"), (["rddml tree", "rddml tree"], r"'rddml tree' more than once"),
    (["rddml"], r"unknown k-means variant 'rddml'")])
def test_bad_variants_are_named(variants: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=rf"sweep_variants: .*{message}"):
        check_sweep_variants(variants, "sweep_variants")
