"""The service-level report as one HTML page in Swedish, for a municipality's managers.

Built from the JSON report (`simulation.report`) alone: headline figures, the plots (matplotlib,
PNG inline) and the tables. The report's English texts (reasons, variant changes, coverage
messages) are put into Swedish by `simulation.sv`.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from simulation import sv
from simulation.models import ANSWERED, Outcome
from simulation.report import Report

if TYPE_CHECKING:
    from matplotlib.figure import Figure

GREEN, RED, AMBER, GREY = "#2e7d32", "#c62828", "#f9a825", "#9e9e9e"


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _agg() -> None:
    """matplotlib without a display; pyplot is imported after this, lazily (it is slow)."""
    import matplotlib

    matplotlib.use("Agg")


def _share_bars(
    ax: Any, labels: list[str], values: list[float], colours: list[str], texts: list[str]
) -> None:
    """Horizontal bars of an answered share in % on an axis that ends at 100 %; each bar's
    text inside the bar when it fits, else just right of it."""
    ax.barh(labels, values, color=colours)
    for i, (v, text) in enumerate(zip(values, texts, strict=True)):
        inside = v >= 12 + 1.1 * len(text)  # rough width of the text in % of the axis
        ax.text(
            v - 1 if inside else v + 1,
            i,
            text,
            va="center",
            ha="right" if inside else "left",
            color="white" if inside else "#222",
            fontsize=8,
        )
    ax.set_xlim(0, 100)
    ax.set_xticks(range(0, 101, 20))
    ax.set_xticklabels([f"{t} %" for t in range(0, 101, 20)])
    ax.invert_yaxis()
    ax.set_xlabel("andel besvarade")


def unit_figure(report: Report) -> Figure | None:
    """Answered share per unit (None without calls)."""
    units = report["by_unit"]
    if not units:
        return None
    _agg()
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.4 * len(units) + 1.2))
    names = list(units)
    values = [(units[u]["answered_share"] or 0.0) * 100 for u in names]
    _share_bars(
        ax,
        [sv.unit(u) for u in names],
        values,
        [GREEN if v >= 90 else RED if v < 75 else AMBER for v in values],
        [f"{sv.percent(units[u]['answered_share'], 0)} av {units[u]['calls']}" for u in names],
    )
    ax.set_title("Andel besvarade samtal per enhet")
    return fig


def comparison_figure(report: Report) -> Figure | None:
    """Answered share now and with each variant (None without variants)."""
    variants = report.get("comparison") or []
    if not variants:
        return None
    _agg()
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.45 * (len(variants) + 1) + 1.2))
    labels = [f"nuläge ({report['scenario']})"] + [str(v["name"]) for v in variants]
    shares = [report["answered_share"]] + [v["answered_share"] for v in variants]
    values = [(s or 0.0) * 100 for s in shares]
    texts = [sv.percent(shares[0])] + [
        f"{sv.percent(v['answered_share'])} ({sv.points(v['answered_share_delta'])})"
        for v in variants
    ]
    _share_bars(
        ax,
        labels,
        values,
        [GREY] + [GREEN if v >= values[0] else RED for v in values[1:]],
        texts,
    )
    ax.axvline(values[0], color="#555", linestyle="--", linewidth=0.8)
    ax.set_title("Vad en ändring skulle göra med andelen besvarade")
    return fig


def _plots(report: Report) -> dict[str, str]:
    _agg()
    import matplotlib.pyplot as plt

    plots: dict[str, str] = {}
    hours = report["by_hour"]
    if hours:
        fig, ax = plt.subplots(figsize=(8, 3.2))
        labels = list(hours)
        ok = [hours[h]["answered"] for h in labels]
        bad = [hours[h]["calls"] - hours[h]["answered"] for h in labels]
        ax.bar(labels, ok, color=GREEN, label="besvarade")
        ax.bar(labels, bad, bottom=ok, color=RED, label="måste ringa igen")
        for i, h in enumerate(labels):
            s = hours[h]["answered_share"]
            if s is not None:
                ax.text(i, ok[i] + bad[i], sv.percent(s, 0), ha="center", va="bottom", fontsize=8)
        ax.set_ylim(0, max(o + b for o, b in zip(ok, bad, strict=True)) * 1.12)
        ax.set_xlabel("timme (klockan)")
        ax.set_ylabel("samtal")
        ax.set_title("Samtal per timme och andel besvarade")
        ax.legend(loc="upper right", fontsize=8)
        plots["by_hour"] = _png(fig)
    outcomes = report["outcomes"]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.barh(
        [sv.OUTCOME_LABELS_SV[o] for o in Outcome],
        [outcomes[o.value] for o in Outcome],
        color=[GREEN if o in ANSWERED else RED for o in Outcome],
    )
    ax.invert_yaxis()
    ax.set_xlabel("samtal")
    ax.set_title("Hur samtalen slutade (grönt räknas som besvarat, HAL-03)")
    plots["outcomes"] = _png(fig)
    for key, figure in (
        ("by_unit", unit_figure(report)),
        ("comparison", comparison_figure(report)),
    ):
        if figure is not None:
            plots[key] = _png(figure)
    return plots


def _table(head: list[str], rows: Iterable[list[object]], numeric: Iterable[int] = ()) -> str:
    """A table; the `numeric` columns right-aligned and never wrapped."""
    cols = set(numeric)

    def cell(tag: str, i: int, text: object) -> str:
        cls = ' class="n"' if i in cols else ""
        return f"<{tag}{cls}>{html.escape(str(text))}</{tag}>"

    th = "".join(cell("th", i, h) for i, h in enumerate(head))
    body = "".join(
        "<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _img(plots: dict[str, str], key: str, alt: str) -> str:
    if key not in plots:
        return ""
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{plots[key]}">'


def _card(value: object, label: str, cls: str = "") -> str:
    return (
        f'<div class="card{" " + cls if cls else ""}"><b>{html.escape(str(value))}</b>'
        f"{html.escape(label)}</div>"
    )


_CSS = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{margin-bottom:.2rem} .sub{color:#666;margin-top:0}
.cards{display:flex;gap:1rem;flex-wrap:wrap;margin:1.5rem 0}
.card{border:1px solid #ddd;border-radius:8px;padding:.8rem 1.2rem;min-width:9rem}
.card b{display:block;font-size:2rem;white-space:nowrap} .big b{font-size:3rem}
.good b{color:#2e7d32} .bad b{color:#c62828}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.9rem}
td,th{border-bottom:1px solid #eee;padding:.25rem .6rem;text-align:left;vertical-align:top}
td.n{text-align:right;white-space:nowrap} th.n{text-align:right}
img{max-width:100%} .warn{background:#fff3e0;border-left:4px solid #ef6c00;padding:.5rem 1rem}
"""


def render_html(report: Report, limit: int = 200) -> str:
    """A self-contained page in Swedish: headline figures, plots (PNG inline), tables.

    Built from the JSON report alone; the report's English texts (reasons, variant changes,
    coverage messages) are put into Swedish by `simulation.sv`."""
    plots = _plots(report)
    share_text = sv.percent(report["answered_share"])
    organisation = html.escape(report["organisation"])
    warnings = report["coverage_warnings"]
    calls, again = report["calls"], report["must_call_again_count"]
    voicemails = report["voicemails_created"]
    cards = (
        '<div class="cards">'
        + _card(share_text, "besvarade (HAL-03)", "big good")
        + _card(calls, "samtal")
        + _card(again, "måste ringa igen", "bad")
        + _card(voicemails, "röstmeddelande" if voicemails == 1 else "röstmeddelanden")
        + _card(
            len(warnings),
            "täckningsvarning" if len(warnings) == 1 else "täckningsvarningar",
            "bad" if warnings else "",
        )
        + "</div>"
    )
    parts = [
        '<!DOCTYPE html><html lang="sv"><head><meta charset="utf-8">',
        f"<title>Servicenivå – {organisation}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Servicenivå: {organisation}</h1>",
        f'<p class="sub">{"Simulerad dag" if len(report["dates"]) == 1 else "Simulerade dagar"}: '
        f"{html.escape(sv.days(report['dates']))} · "
        f"scenario {html.escape(report['scenario'])} · slumpfrö {report['seed']}</p>",
        cards,
        "<p>Ett samtal räknas som <b>besvarat</b> när det slutar med personligt svar, koppling "
        "till ett passningsställe (inte kontaktcenter/Medborgarservice), ett "
        "hänvisningsmeddelande eller röstbrevlådan (HAL-03). Alla andra som ringer måste ringa "
        "igen.</p>",
    ]
    if report.get("comparison"):
        rows = [
            [
                v["name"],
                "; ".join(sv.change(c) for c in v["changes"]),
                sv.percent(v["answered_share"]),
                sv.points(v["answered_share_delta"], unit=False),
                v["must_call_again_count"],
                v["voicemails_created"],
                v["coverage_warnings"],
            ]
            for v in report["comparison"]
        ]
        base_row = [
            [
                "nuläge",
                "som det är inställt nu",
                share_text,
                "",
                again,
                voicemails,
                len(warnings),
            ]
        ]
        parts += [
            "<h2>Vad en ändring skulle göra</h2>",
            "<p>Samma samtal, vid samma tidpunkter, med en annan inställning.</p>",
            _img(plots, "comparison", "andel besvarade per variant"),
            _table(
                [
                    "variant",
                    "ändring",
                    "besvarade",
                    "skillnad (procentenheter)",
                    "måste ringa igen",
                    "röst\u00admeddelanden",  # soft hyphens: narrow numeric columns
                    "täcknings\u00advarningar",
                ],
                base_row + rows,
                numeric=(2, 3, 4, 5, 6),
            ),
        ]
    if warnings:
        parts.append("<h2>Täckningsvarningar (HAL-05)</h2>")
        parts += [f'<p class="warn">{html.escape(sv.coverage_warning(w))}</p>' for w in warnings]
    parts += [
        "<h2>Under dagen</h2>",
        _img(plots, "by_hour", "samtal per timme"),
        "<h2>Hur samtalen slutade</h2>",
        _img(plots, "outcomes", "hur samtalen slutade"),
        _table(
            ["utfall", "räknas som besvarat", "samtal"],
            [
                [
                    sv.OUTCOME_LABELS_SV[o],
                    "ja" if o in ANSWERED else "nej",
                    report["outcomes"][o.value],
                ]
                for o in Outcome
            ],
            numeric=(2,),
        ),
        "<h2>Per enhet</h2>",
        _img(plots, "by_unit", "andel besvarade per enhet"),
        _table(
            ["enhet", "samtal", "besvarade", "andel"],
            [
                [sv.unit(u), r["calls"], r["answered"], sv.percent(r["answered_share"])]
                for u, r in report["by_unit"].items()
            ],
            numeric=(1, 2, 3),
        ),
        "<h2>Per typ av nummer</h2>",
        _table(
            ["uppringt", "samtal", "besvarade", "andel"],
            [
                [
                    sv.KIND_LABELS_SV.get(k, k),
                    r["calls"],
                    r["answered"],
                    sv.percent(r["answered_share"]),
                ]
                for k, r in report["by_kind"].items()
            ],
            numeric=(1, 2, 3),
        ),
        "<h2>Varför de som ringer måste ringa igen</h2>",
        _table(
            ["orsak", "samtal"],
            [[sv.why(k), n] for k, n in report["must_call_again_by_reason"].items()],
            numeric=(1,),
        ),
    ]
    listed = report["must_call_again"][:limit]
    if listed:
        more = again - len(listed)
        parts += [
            "<h2>Samtalen som måste ringas igen, ett och ett</h2>",
            _table(
                ["tid", "uppringt nummer", "enhet", "utfall", "orsak"],
                [
                    [
                        c["at"][11:19],
                        c["called"] or "",
                        sv.unit(c["unit"]),
                        sv.outcome(c["outcome"]),
                        sv.why(c["why"]),
                    ]
                    for c in listed
                ],
            ),
            f"<p>… och {more} till (alla finns i JSON-rapporten).</p>" if more > 0 else "",
        ]
    parts.append("</body></html>\n")
    return "\n".join(p for p in parts if p)
