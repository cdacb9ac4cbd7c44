"""The canvas's emotion curve: drawn by :mod:`cxray.report.canvas_chart`, which the offline
report shares (faces do not import each other, so the figure lives with the report)."""

from cxray.report.canvas_chart import FACES, MOOD_COLOURS, emotion_curve, face

__all__ = ["FACES", "MOOD_COLOURS", "emotion_curve", "face"]
