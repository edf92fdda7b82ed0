"""Figures of the paper and a self-contained HTML report (plus a Markdown twin).

The package is split by concern: :mod:`~smoothlearn.report.style` (colours, labels, the
matplotlib look), :mod:`~smoothlearn.report.plots` (curve and bar helpers every figure shares),
:mod:`~smoothlearn.report.prose` (caption pieces and the report's fixed text),
:mod:`~smoothlearn.report.draw` (draws every registered figure, :mod:`smoothlearn.figures`),
:mod:`~smoothlearn.report.html` and :mod:`~smoothlearn.report.markdown` (the two renderings)
and :mod:`~smoothlearn.report.publish` (copying a finished report into ``docs/``).

Figures are drawn from a tidy results frame (``smoothlearn.results.load`` or
``experiments.curves_frame``) through ``Figure`` objects (Agg canvas), never ``pyplot``, so
drawing needs no display and no global state. ``report.html`` embeds its images as base64
PNGs and its styles inline: it opens from a file with no network.
"""
