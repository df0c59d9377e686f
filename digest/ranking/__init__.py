"""The interest model: which stored papers each subscriber gets, and why.

Pure computation on plain data: which papers are candidates is decided by the caller
(`digest.candidates`), so the model can be tested and benchmarked without a database.
`docs/ranking.md` describes the model; `scoring` holds its formula.
"""

from digest.ranking.analyzer import STOP_WORDS, Document, fold_plural, phrase_feature, words
from digest.ranking.calibration import calibrated
from digest.ranking.explain import Pick, match_strength
from digest.ranking.interests import Interest, Profiles
from digest.ranking.model import InterestModel

__all__ = [
    "STOP_WORDS",
    "Document",
    "Interest",
    "InterestModel",
    "Pick",
    "Profiles",
    "calibrated",
    "fold_plural",
    "match_strength",
    "phrase_feature",
    "words",
]
