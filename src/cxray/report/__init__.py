"""The self-contained HTML report: a first look at a workspace on one page that opens offline.

>>> from cxray.report import write_report
>>> write_report(ws, "report.html", lang="nl")
"""

from cxray.report.build import ReportData, build_report, collect, render, write_report

__all__ = ["ReportData", "build_report", "collect", "render", "write_report"]
