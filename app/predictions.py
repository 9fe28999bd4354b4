"""Model outputs → the JSON-ready dicts of the response (shapes documented in app.schemas).

Pure functions; they run in the model thread right after the forward, so the event loop only joins them.
"""

from __future__ import annotations

from typing import Any

from model.runtime import ClassifierPrediction, Prediction, TaggerPrediction


def prediction_payload(text: str, prediction: Prediction) -> dict[str, Any]:
    if isinstance(prediction, ClassifierPrediction):
        return {"label": prediction.label, "score": prediction.score, "scores": prediction.scores,
                "abstained": prediction.abstained}
    return tagger_payload(text, prediction)


def tagger_payload(text: str, prediction: TaggerPrediction) -> dict[str, Any]:
    offsets, tags, scores = prediction.offsets, prediction.tags, prediction.tag_scores
    tokens = [
        {"text": text[start:end], "start": start, "end": end, "tag": tag, "score": score}
        for (start, end), tag, score in zip(offsets, tags, scores)
    ]
    slots = [
        {"slot": span.slot, "value": text[span.start : span.end], "start": span.start, "end": span.end,
         "score": span.score}
        for span in prediction.spans
    ]
    return {"intent": {"label": prediction.intent, "score": prediction.intent_score}, "tokens": tokens, "slots": slots,
            "abstained": prediction.abstained}
