"""The why page's charts: drawn by :mod:`cxray.report.why_chart`, which the offline report
shares (faces do not import each other, so the figures live with the report)."""

from cxray.report.why_chart import QUADRANTS, dose_response, nps_quadrant

__all__ = ["QUADRANTS", "dose_response", "nps_quadrant"]
