"""``nlp-lstm train lm`` and ``nlp-lstm train classifier``: options in, one call of the training API.

Defaults come from the config classes; the run directory and its files (run.toml included) are
the library's, so the API and the command line write the same run from the same options.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

import nlp_lstm
from nlp_lstm import tasks
from nlp_lstm.cli.app import train_app, user_errors
from nlp_lstm.cli.options import (
    DATA,
    MODEL,
    OPTIMISATION,
    BatchSizeOption,
    ClassifierTokenizerOption,
    ConfigFileOption,
    DatasetConfigOption,
    DeviceOption,
    DropoutOption,
    EmbeddingDimOption,
    EmbeddingDropoutOption,
    GradClipOption,
    HiddenSizeOption,
    Keep,
    LabelColumnOption,
    LabelledDatasetOption,
    LrOption,
    MinLrRatioOption,
    NumLayersOption,
    OutputOption,
    OverwriteOption,
    PrecisionOption,
    ResumeOption,
    SeedOption,
    TextColumnOption,
    TextDatasetOption,
    ThreadsOption,
    TokenizerOption,
    TrainJsonOption,
    VocabSizeOption,
    WarmupOption,
    WeightDecayOption,
    command_line,
    default,
    flag,
    training_config,
)
from nlp_lstm.cli.render import TrainingProgress
from nlp_lstm.train_config import ClassifierTrainConfig, TeacherTrainConfig, TrainConfig

InitFromLmOption = Annotated[
    Optional[Path],
    typer.Option(
        help="Fine-tune this language model directory on the new text: its shape and tokenizer are kept; "
        "--dropout and --embedding-dropout, when given, replace its own.",
        rich_help_panel=MODEL,
    ),
]
WeightDropOption = Annotated[
    float,
    typer.Option(
        help="AWD-LSTM weight drop: DropConnect on the hidden-to-hidden weights, one mask per batch.", rich_help_panel=MODEL
    ),
]
LockedDropoutOption = Annotated[
    float,
    typer.Option(
        help="AWD-LSTM locked dropout between LSTM layers: one mask per sequence, in place of --dropout there.",
        rich_help_panel=MODEL,
    ),
]
GrowVocabularyOption = Annotated[
    bool,
    typer.Option(
        "--grow-vocabulary/--no-grow-vocabulary",
        help="With --init-from and a character tokenizer: characters of the new text the model lacks get new rows "
        "(started at the mean of the known ones) instead of the unknown id, so the model can learn to write them.",
        rich_help_panel=MODEL,
    ),
]
TieWeightsOption = Annotated[
    bool, flag("--tie-weights", "Share embedding and output weights (needs --embedding-dim = --hidden-size).", MODEL)
]
SeqLenOption = Annotated[int, typer.Option(help="Truncated-BPTT window in tokens.", rich_help_panel=DATA)]
StateResetOption = Annotated[
    float,
    typer.Option(
        help="Chance per window that a row's carried state restarts from zero (teaches zero starts).",
        rich_help_panel=OPTIMISATION,
    ),
]
MaxStepsOption = Annotated[int, typer.Option(help="Optimiser steps in all.", rich_help_panel=OPTIMISATION)]
EvalEveryOption = Annotated[
    int, typer.Option(help="Evaluate on the whole validation split every N steps.", rich_help_panel=OPTIMISATION)
]
EvalBatchSizeOption = Annotated[int, typer.Option(help="Rows read in parallel when evaluating.", rich_help_panel=OPTIMISATION)]
PatienceLmOption = Annotated[
    int, typer.Option(help="Stop after N evaluations without improvement (0 = never).", rich_help_panel=OPTIMISATION)
]
MaxLengthOption = Annotated[int, typer.Option(help="Tokens kept per text; longer texts are cut.", rich_help_panel=DATA)]
KeepOption = Annotated[Keep, typer.Option(help="Which part of a long text to keep.", rich_help_panel=DATA)]


class Problem(str, Enum):
    classification = "classification"
    regression = "regression"


ProblemOption = Annotated[
    Problem,
    typer.Option(
        help="regression: predict the number in --label-column (a local CSV/JSON file); reports RMSE, MAE, Spearman.",
        rich_help_panel=DATA,
    ),
]
InitFromClassifierOption = Annotated[
    Optional[Path],
    typer.Option(help="Start from this language model's encoder and tokenizer (ULMFiT-style transfer).", rich_help_panel=MODEL),
]
FreezeEpochsOption = Annotated[
    int, typer.Option(help="With --init-from: epochs training only the head before unfreezing.", rich_help_panel=MODEL)
]
LayerLrDecayOption = Annotated[
    float, typer.Option(help="With --init-from: learning-rate divisor per lower layer.", rich_help_panel=MODEL)
]
BidirectionalOption = Annotated[bool, flag("--bidirectional", "Read each text in both directions (from scratch only).", MODEL)]
EpochsOption = Annotated[int, typer.Option(help="Passes over the training split.", rich_help_panel=OPTIMISATION)]
PatienceClassifierOption = Annotated[
    int,
    typer.Option(help="Stop after N epochs without a better validation accuracy (0 = never).", rich_help_panel=OPTIMISATION),
]

DISTILLATION = "Distillation"
TeacherOption = Annotated[
    Optional[Path],
    typer.Option(
        help="Also learn this teacher's soft targets (a run or model directory of nlp-lstm train teacher).",
        rich_help_panel=DISTILLATION,
    ),
]
UnlabelledOption = Annotated[
    Optional[str],
    typer.Option(
        help="More text for the teacher to label: 'sentences' (those of the training texts) or a dataset.",
        rich_help_panel=DISTILLATION,
    ),
]
TransferSizeOption = Annotated[
    int, typer.Option(help="At most this many unlabelled texts, a seeded sample (0 = all).", rich_help_panel=DISTILLATION)
]
SoftWeightOption = Annotated[
    float, typer.Option(help="The teacher's share of the loss on labelled texts (0-1).", rich_help_panel=DISTILLATION)
]
TemperatureOption = Annotated[
    float, typer.Option(help="Softmax temperature of the KL divergence to the teacher.", rich_help_panel=DISTILLATION)
]
TeacherLengthOption = Annotated[
    int,
    typer.Option(
        help="Tokens of each text the teacher reads when it labels it (0 = those it was trained on).",
        rich_help_panel=DISTILLATION,
    ),
]
EmbeddingsOption = Annotated[
    Optional[str],
    typer.Option(
        help="Start the embeddings from 'teacher' (with --tokenizer teacher) or a GloVe/word2vec text file.",
        rich_help_panel=MODEL,
    ),
]
BaseOption = Annotated[
    str,
    typer.Option(help="Pretrained encoder: builtin:minilm (all-MiniLM-L6-v2), a directory or a Hub id.", rich_help_panel=MODEL),
]
TeacherMaxStepsOption = Annotated[
    int,
    typer.Option(help="Stop after this many steps (0 = the epochs decide); bounds a CPU's cost.", rich_help_panel=OPTIMISATION),
]
TeacherEvalEveryOption = Annotated[
    int, typer.Option(help="Validate every N steps (0 = after every epoch).", rich_help_panel=OPTIMISATION)
]
TeacherMaxLengthOption = Annotated[
    int, typer.Option(help="Tokens read per text, [CLS] and [SEP] included: its head and its tail.", rich_help_panel=DATA)
]


def run_training(options: dict[str, Any], config_class: type) -> None:
    """Build the config from a training command's options and run it."""
    config = training_config(config_class, options)
    progress = TrainingProgress()
    run = nlp_lstm.RunOptions(options["output"], options["resume"], options["overwrite"], progress, command_line())
    try:
        result = nlp_lstm.train(config, run)
    finally:
        progress.close()
    if not result.reports:  # another process of a torchrun group: rank 0 reports
        return
    summary = {"run": str(result.output_dir), "best": str(result.best_dir), "steps": result.step}
    summary |= {"wall_time_s": round(result.wall_time_s, 1), "best_validation": result.best_validation}
    if result.curves is None:  # matplotlib is an optional extra: the run itself succeeded
        typer.echo("note: no curves.png: install the plot extra (pip install 'nlp-lstm[plot]') for it", err=True)
    else:
        summary["curves"] = str(result.curves)
    if options["json_output"]:
        typer.echo(json.dumps(summary))


@train_app.command(tasks.LM)
@user_errors
def train_lm(
    dataset: TextDatasetOption = default(TrainConfig, "dataset"),
    dataset_config: DatasetConfigOption = None,
    text_column: TextColumnOption = default(TrainConfig, "text_column"),
    tokenizer: TokenizerOption = default(TrainConfig, "tokenizer"),
    vocab_size: VocabSizeOption = default(TrainConfig, "vocab_size"),
    init_from: InitFromLmOption = None,
    grow_vocabulary: GrowVocabularyOption = default(TrainConfig, "grow_vocabulary"),
    embedding_dim: EmbeddingDimOption = default(TrainConfig, "embedding_dim"),
    hidden_size: HiddenSizeOption = default(TrainConfig, "hidden_size"),
    num_layers: NumLayersOption = default(TrainConfig, "num_layers"),
    dropout: DropoutOption = default(TrainConfig, "dropout"),
    embedding_dropout: EmbeddingDropoutOption = default(TrainConfig, "embedding_dropout"),
    tie_weights: TieWeightsOption = default(TrainConfig, "tie_weights"),
    weight_drop: WeightDropOption = default(TrainConfig, "weight_drop"),
    locked_dropout: LockedDropoutOption = default(TrainConfig, "locked_dropout"),
    seq_len: SeqLenOption = default(TrainConfig, "seq_len"),
    state_reset: StateResetOption = default(TrainConfig, "state_reset"),
    batch_size: BatchSizeOption = default(TrainConfig, "batch_size"),
    max_steps: MaxStepsOption = default(TrainConfig, "max_steps"),
    lr: LrOption = default(TrainConfig, "lr"),
    min_lr_ratio: MinLrRatioOption = default(TrainConfig, "min_lr_ratio"),
    warmup_steps: WarmupOption = default(TrainConfig, "warmup_steps"),
    weight_decay: WeightDecayOption = default(TrainConfig, "weight_decay"),
    grad_clip: GradClipOption = default(TrainConfig, "grad_clip"),
    eval_every: EvalEveryOption = default(TrainConfig, "eval_every"),
    eval_batch_size: EvalBatchSizeOption = default(TrainConfig, "eval_batch_size"),
    patience: PatienceLmOption = default(TrainConfig, "patience"),
    seed: SeedOption = default(TrainConfig, "seed"),
    device: DeviceOption = default(TrainConfig, "device"),
    threads: ThreadsOption = default(TrainConfig, "threads"),
    output: OutputOption = Path("runs/lm"),
    precision: PrecisionOption = default(TrainConfig, "precision"),
    resume: ResumeOption = False,
    overwrite: OverwriteOption = False,
    config_file: ConfigFileOption = None,
    json_output: TrainJsonOption = False,
) -> None:
    """Train a language model (character-level by default).

    Example: nlp-lstm train lm --dataset builtin:shakespeare --output runs/shakespeare --hidden-size 256 --max-steps 300
    """
    run_training(locals(), TrainConfig)


@train_app.command(tasks.CLASSIFIER)
@user_errors
def train_classifier(
    dataset: LabelledDatasetOption = default(ClassifierTrainConfig, "dataset"),
    dataset_config: DatasetConfigOption = None,
    text_column: TextColumnOption = default(ClassifierTrainConfig, "text_column"),
    label_column: LabelColumnOption = default(ClassifierTrainConfig, "label_column"),
    problem: ProblemOption = default(ClassifierTrainConfig, "problem"),
    tokenizer: ClassifierTokenizerOption = default(ClassifierTrainConfig, "tokenizer"),
    vocab_size: VocabSizeOption = default(ClassifierTrainConfig, "vocab_size"),
    max_length: MaxLengthOption = default(ClassifierTrainConfig, "max_length"),
    keep: KeepOption = default(ClassifierTrainConfig, "keep"),
    init_from: InitFromClassifierOption = None,
    freeze_epochs: FreezeEpochsOption = default(ClassifierTrainConfig, "freeze_epochs"),
    layer_lr_decay: LayerLrDecayOption = default(ClassifierTrainConfig, "layer_lr_decay"),
    teacher: TeacherOption = None,
    unlabelled: UnlabelledOption = None,
    transfer_size: TransferSizeOption = default(ClassifierTrainConfig, "transfer_size"),
    soft_weight: SoftWeightOption = default(ClassifierTrainConfig, "soft_weight"),
    temperature: TemperatureOption = default(ClassifierTrainConfig, "temperature"),
    teacher_length: TeacherLengthOption = default(ClassifierTrainConfig, "teacher_length"),
    embeddings: EmbeddingsOption = None,
    embedding_dim: EmbeddingDimOption = default(ClassifierTrainConfig, "embedding_dim"),
    hidden_size: HiddenSizeOption = default(ClassifierTrainConfig, "hidden_size"),
    num_layers: NumLayersOption = default(ClassifierTrainConfig, "num_layers"),
    bidirectional: BidirectionalOption = default(ClassifierTrainConfig, "bidirectional"),
    dropout: DropoutOption = default(ClassifierTrainConfig, "dropout"),
    embedding_dropout: EmbeddingDropoutOption = default(ClassifierTrainConfig, "embedding_dropout"),
    batch_size: BatchSizeOption = default(ClassifierTrainConfig, "batch_size"),
    epochs: EpochsOption = default(ClassifierTrainConfig, "epochs"),
    lr: LrOption = default(ClassifierTrainConfig, "lr"),
    min_lr_ratio: MinLrRatioOption = default(ClassifierTrainConfig, "min_lr_ratio"),
    warmup_steps: WarmupOption = default(ClassifierTrainConfig, "warmup_steps"),
    weight_decay: WeightDecayOption = default(ClassifierTrainConfig, "weight_decay"),
    grad_clip: GradClipOption = default(ClassifierTrainConfig, "grad_clip"),
    patience: PatienceClassifierOption = default(ClassifierTrainConfig, "patience"),
    seed: SeedOption = default(ClassifierTrainConfig, "seed"),
    device: DeviceOption = default(ClassifierTrainConfig, "device"),
    threads: ThreadsOption = default(ClassifierTrainConfig, "threads"),
    output: OutputOption = Path("runs/classifier"),
    precision: PrecisionOption = default(ClassifierTrainConfig, "precision"),
    resume: ResumeOption = False,
    overwrite: OverwriteOption = False,
    config_file: ConfigFileOption = None,
    json_output: TrainJsonOption = False,
) -> None:
    """Train a text classifier (sentiment by default), from scratch or from a language model.

    Example: nlp-lstm train classifier --dataset builtin:rotten_tomatoes --output runs/rt --epochs 4
    """
    run_training(locals(), ClassifierTrainConfig)


@train_app.command(tasks.TEACHER)
@user_errors
def train_teacher(
    dataset: LabelledDatasetOption = default(TeacherTrainConfig, "dataset"),
    dataset_config: DatasetConfigOption = None,
    text_column: TextColumnOption = default(TeacherTrainConfig, "text_column"),
    label_column: LabelColumnOption = default(TeacherTrainConfig, "label_column"),
    base: BaseOption = default(TeacherTrainConfig, "base"),
    max_length: TeacherMaxLengthOption = default(TeacherTrainConfig, "max_length"),
    batch_size: BatchSizeOption = default(TeacherTrainConfig, "batch_size"),
    epochs: EpochsOption = default(TeacherTrainConfig, "epochs"),
    max_steps: TeacherMaxStepsOption = default(TeacherTrainConfig, "max_steps"),
    eval_every: TeacherEvalEveryOption = default(TeacherTrainConfig, "eval_every"),
    lr: LrOption = default(TeacherTrainConfig, "lr"),
    min_lr_ratio: MinLrRatioOption = default(TeacherTrainConfig, "min_lr_ratio"),
    warmup_steps: WarmupOption = default(TeacherTrainConfig, "warmup_steps"),
    weight_decay: WeightDecayOption = default(TeacherTrainConfig, "weight_decay"),
    grad_clip: GradClipOption = default(TeacherTrainConfig, "grad_clip"),
    patience: PatienceLmOption = default(TeacherTrainConfig, "patience"),
    seed: SeedOption = default(TeacherTrainConfig, "seed"),
    device: DeviceOption = default(TeacherTrainConfig, "device"),
    threads: ThreadsOption = default(TeacherTrainConfig, "threads"),
    output: OutputOption = Path("runs/teacher"),
    precision: PrecisionOption = default(TeacherTrainConfig, "precision"),
    resume: ResumeOption = False,
    overwrite: OverwriteOption = False,
    config_file: ConfigFileOption = None,
    json_output: TrainJsonOption = False,
) -> None:
    """Fine-tune a pretrained transformer as a classifier, to teach an LSTM (needs the teacher extra).

    Example: nlp-lstm train teacher --dataset builtin:rotten_tomatoes --output runs/teacher --max-steps 200
    """
    run_training(locals(), TeacherTrainConfig)
