"""Linear evaluation and finetuning (SPEC 5.1-5.3): a classifier on a pretrained trunk, multi-view testing."""

from sce_apps.classify.config import (
    ClassifyConfig,
    ClassifyDataConfig,
    ClassifyModelConfig,
)
from sce_apps.classify.evaluate import Accuracy, accuracy, evaluate, multiview_probabilities
from sce_apps.classify.model import Classifier, LinearHead, build_classifier
from sce_apps.classify.program import finetune, linear_eval

__all__ = [
    "Accuracy",
    "ClassifyConfig",
    "ClassifyDataConfig",
    "ClassifyModelConfig",
    "Classifier",
    "LinearHead",
    "accuracy",
    "build_classifier",
    "evaluate",
    "finetune",
    "linear_eval",
    "multiview_probabilities",
]
