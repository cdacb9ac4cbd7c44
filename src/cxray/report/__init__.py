"""The self-contained HTML report: a first look at a workspace on one page that opens offline.

>>> from cxray.report import write_report
>>> write_report(ws, "report.html", lang="nl")
>>> write_report(ws, "business-q1.html", segment="business", start="2025-01-01", end="2025-03-31")
"""

from cxray.analysis.filters import FilterError, ReportFilter
from cxray.report.build import ReportData, build_report, collect, render, write_report

__all__ = [
    "FilterError",
    "ReportData",
    "ReportFilter",
    "build_report",
    "collect",
    "render",
    "write_report",
]
