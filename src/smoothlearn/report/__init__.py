"""The report, above the figures: a self-contained HTML page (plus a Markdown twin).

The package is split by concern: :mod:`~smoothlearn.report.draw` (draws every registered
figure, :mod:`smoothlearn.figures`), :mod:`~smoothlearn.report.headline` (one row per paper
claim and the scorecard), :mod:`~smoothlearn.report.tables` (the one Markdown table writer and
the one verdict colour map, also used by the robustness and landscape pages),
:mod:`~smoothlearn.report.words` (the report's fixed text and number formatting),
:mod:`~smoothlearn.report.inputs` (what a study hands the report: ``ExperimentInfo``),
:mod:`~smoothlearn.report.html` and :mod:`~smoothlearn.report.markdown` (the two renderings)
and :mod:`~smoothlearn.report.publish` (copying a finished report into ``docs/``). What the
figures draw with (style, curve helpers, captions) is below them, in
:mod:`smoothlearn.figures.plotting`; nothing there imports the report.

``report.html`` embeds its images as base64 PNGs and its styles inline: it opens from a file
with no network.
"""
