"""Mutation testing with mutmut 3, one module and the tests that exercise it at a time.

mutmut reads its configuration from ``[tool.mutmut]`` in the pyproject.toml of the directory it runs in,
and has no command-line option to pick a module or tests. So each module runs in a scratch copy of the
project (``.mutation/<module>/``) whose pyproject.toml is the real one with two keys added to
``[tool.mutmut]``: ``only_mutate`` (the module) and ``pytest_add_cli_args_test_selection`` (its tests).
Results (killed / survived / timeouts / no tests, per module) are printed and merged into
``.mutation/summary.json``; survivors are listed with ``mutmut show`` in the scratch copy.

usage: python scripts/mutation.py [MODULE ...] [--max-children N] [--only GLOB] [--list]
       MODULE is a path under src/tokenlab (e.g. encode/bpe.py); default: every module in MODULE_TESTS.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent

AUDIT = "tests/test_audit_regressions.py"
KILLS = "tests/test_mutation_kills.py"
# module (under src/tokenlab) -> the tests that check it (pytest arguments). Core modules first.
MODULE_TESTS: dict[str, list[str]] = {
    "specials.py": ["tests/test_tokenizer.py", "tests/test_roundtrip.py", "tests/test_mutation_kills.py"],
    # test_fast_encode.py also reaches bpe.py but costs ~45 s per mutant here (cl100k loads, compiled paths)
    "encode/bpe.py": ["tests/test_tokenizer.py", "tests/test_mutation_kills.py"],
    "encode/stochastic.py": ["tests/test_stochastic.py", "tests/test_mutation_kills.py",
                             f"{AUDIT}::test_dropout_law_sums_to_one",
                             f"{AUDIT}::test_bpe_dropout_whole_token_shortcut_follows_the_law"],
    "byte_tokenizer.py": ["tests/test_byte_tokenizer.py",
                          *(f"{KILLS}::{name}" for name in ("test_byte_tokenizer_errors_say_what_is_wrong",
                                                           "test_chat_template_errors_name_the_field",
                                                           "test_chat_policies_touch_user_text_only",
                                                           "test_truncated_padded_batches_are_single_encodes",
                                                           "test_empty_batch_has_the_batch_dtypes_and_width")),
                          f"{AUDIT}::test_control_byte_set_equals_reference",
                          f"{AUDIT}::test_every_control_byte_raises_under_error_policy",
                          f"{AUDIT}::test_decode_skip_special_drops_padding_like_reference",
                          "tests/test_mutation_kills_big2.py"],
    "transfer/healing.py": ["tests/test_healing.py", "tests/test_mutation_kills.py",
                            "tests/test_mutation_kills_methods.py"],
    "encode/methods.py": ["tests/test_methods.py", "tests/test_mutation_kills_methods.py"],
    # the lattice functions are checked against brute force over every segmentation in test_mutation_kills_methods.py;
    # test_unigram.py trains models (~10 s per mutant), and its sentencepiece comparison (which trains a
    # sentencepiece model) crashed the forked test process (segfault) of every surviving mutant that reached it
    "encode/lattice.py": ["tests/test_methods.py", "tests/test_mutation_kills_methods.py"],
    "evaluate/metrics.py": ["tests/test_metrics.py", "tests/test_mutation_kills_metrics.py",
                            *(f"{KILLS}::{name}" for name in ("test_encoder_adapters_and_their_errors",
                                                             "test_fertility_from_hf_offsets_follows_the_definition",
                                                             "test_fertility_by_bytes_follows_the_definition",
                                                             "test_summary_row_equals_the_separate_metrics",
                                                             "test_metric_errors_say_what_is_wrong",
                                                             "test_char_script_and_token_category_follow_unicode",
                                                             "test_number_splits_with_a_prefix_follow_the_definition",
                                                             "test_number_splits_default_range_and_a_prefix_cut_into_"
                                                             "bytes"))],
    # without test_python_fallback_equals_numba (18 s, the numba loop of _native.py) and the 8 s recount test,
    # which test_mutation_kills_sp.py repeats on a small corpus; test_progress_bar_runs_the_loop_in_a_thread fails
    # under mutmut's TQDM_DISABLE=1 (tqdm reads it for the merging bar)
    "train/bpe.py": ["tests/test_mutation_kills_sp.py", "tests/test_mutation_kills_io_train.py",
                     "tests/test_train.py::test_hand_worked_example",
                     "tests/test_train.py::test_min_frequency_stops_training",
                     "tests/test_train.py::test_merges_equal_hf_bpe_trainer",
                     "tests/test_train.py::test_bad_training_arguments",
                     "tests/test_train_fast.py::test_merges_and_vocab_equal_hf",
                     "tests/test_train_fast.py::test_special_token_text_in_corpus_like_hf",
                     "tests/test_train_fast.py::test_parallel_counting_equals_serial",
                     "tests/test_train_fast.py::test_compiled_counting_equals_regex_counting",
                     "tests/test_train_fast.py::test_compiled_counting_errors_and_fallbacks",
                     "tests/test_train_fast.py::test_parallel_training_equals_serial",
                     "tests/test_train_fast.py::test_hand_worked_counts_and_tie_break",
                     "tests/test_train_fast.py::test_bad_corpus_items_in_the_parallel_path",
                     "tests/test_train_fast.py::test_native_flag_without_numba",
                     "tests/test_train_fast.py::test_without_numba_installed_gives_the_same_tokenizer"],
    # test_fast_encode.py also reaches pretokenize.py but loads cl100k and the compiled paths for every mutant
    "pretokenize.py": ["tests/test_pretokenize.py", "tests/test_unicode_pinning.py", "tests/test_reliability_regex.py",
                       "tests/test_mutation_kills_io_train.py::"
                       "test_stand_ins_are_the_highest_code_points_in_the_same_classes",
                       *(f"{KILLS}::{name}" for name in ("test_pretokenizer_equals_hf_isolated_split",
                                                        "test_pretokenizer_settings_round_trip_and_errors",
                                                        "test_runaway_pattern_error_says_what_to_do",
                                                        "test_classes_used_lists_each_class_once_in_order",
                                                        "test_stand_ins_computed_afresh_follow_the_definition"))],
    # the pure-Python path (the compiled _sp kernel takes encode_ordinary where it can): test_mutation_kills_sp.py
    # compares it with sentencepiece, test_random_models_kernel_equals_pure with the kernel; decode and HF export
    # against sentencepiece and HF. test_sentencepiece.py, the rest of test_sp_kernel.py and
    # test_hf_unigram_with_precompiled_normalizer train large models per mutant
    "models/sentencepiece.py": [
        "tests/test_mutation_kills_sp.py", "tests/test_sp_decode.py",
        "tests/test_mutation_kills_io_train.py::test_float32_path_ties_round_from_zero_like_sentencepiece",
        "tests/test_mutation_kills_io_train.py::test_a_path_score_of_exactly_100000_is_not_rebased",
        "tests/test_sp_kernel.py::test_random_models_kernel_equals_pure",
        "tests/test_sp_kernel.py::test_models_the_kernel_cannot_follow_use_the_pure_path",
        "tests/test_sp_kernel.py::test_scores_that_are_not_float32_stay_on_the_pure_path",
        "tests/test_hf_metaspace.py::test_exported_sentencepiece_model_equals_sentencepiece_in_hf[tokenizer.model.v1]",
        "tests/test_hf_metaspace.py::test_user_defined_symbols_follow_hf_legacy_spacing",
        "tests/test_mutation_kills_big2.py", "tests/test_sp_unused.py"],
    # test_unigram.py trains a model in its fixtures (~10 s per mutant): its sentencepiece comparison only, and the
    # brute-force checks of test_mutation_kills_sp.py
    "models/unigram.py": ["tests/test_mutation_kills_sp.py",
                          "tests/test_unigram.py::test_viterbi_equals_sentencepiece_on_its_own_model"],
    "models/wordpiece.py": ["tests/test_wordpiece.py", "tests/test_mutation_kills.py"],
    # all of test_reference_ids.py costs ~18 s per mutant (cl100k and HF exports): only its known-file test; the
    # audit's test_write_tiktoken_loads_in_tiktoken derives all of cl100k's merges per mutant and is left out
    "io/tiktoken_file.py": ["tests/test_mutation_kills.py",
                            "tests/test_reference_ids.py::test_known_tiktoken_file_loads_with_its_pattern_and_specials",
                            "tests/test_reliability_readers.py::test_tiktoken_damage_is_reported",
                            f"{AUDIT}::test_write_tiktoken_ranks_are_ids"],
    # all of test_reference_ids.py and test_hf_metaspace.py cost ~70 s per mutant (cl100k, Mistral files): the
    # checks against HF tokenizers in test_mutation_kills_io_train.py, two HF-trained / exported files, the damage
    "io/hf_json.py": ["tests/test_mutation_kills_io_train.py",
                      "tests/test_reference_ids.py::test_reads_real_hf_tokenizer_json_from_hf_trainer",
                      "tests/test_reference_ids.py::test_exported_trained_tokenizer_in_hf_tokenizers",
                      "tests/test_reliability_readers.py::test_hf_byte_level_bad_ids",
                      "tests/test_reliability_readers.py::test_metaspace_tokenizer_json_is_checked"],
    # all of test_sentencepiece.py trains nine models per mutant: its hand-written model, one mistral-common file,
    # and the checks against sentencepiece and its protobuf module in test_mutation_kills_sp.py
    "io/sentencepiece.py": ["tests/test_mutation_kills_sp.py",
                            "tests/test_sentencepiece.py::test_unreachable_piece_of_a_hand_written_model",
                            "tests/test_sentencepiece.py::test_mistral_models_equal_sentencepiece[tokenizer.model.v1]"],
    "io/validate.py": ["tests/test_reliability_readers.py", "tests/test_mutation_kills.py"],
    # readers and writers first run in session 7 (tests/test_mutation_kills_readers.py compares with mistral-common,
    # HF tokenizers and transformers on small hand-made files)
    "io/tekken.py": ["tests/test_reliability_readers.py::test_tekken_huge_declared_sizes_are_refused_quickly",
                     "tests/test_reliability_readers.py::test_tekken_bad_entries",
                     *(f"tests/test_mutation_kills_readers.py::test_tekken_{name}" for name in (
                         "files_equal_mistral_common", "vocab_size_argument_equals_mistral_common",
                         "sizes_past_the_file_are_refused_like_mistral_common", "errors_name_the_file_and_the_field"))],
    "io/tokenlab_json.py": ["tests/test_reliability_readers.py",
                            "tests/test_tokenizer.py::test_native_save_load_round_trip",
                            "tests/test_tokenizer.py::test_corrupt_native_files",
                            "tests/test_tokenizer.py::test_truncated_file_is_format_error",
                            *(f"tests/test_mutation_kills_readers.py::test_tokenlab_json_{name}" for name in (
                                "fields_follow_the_format_and_read_back", "defaults_and_other_format_names",
                                "errors_name_the_file_and_the_field"))],
    "io/wordpiece_vocab.py": ["tests/test_mutation_kills.py::test_wordpiece_vocab_txt_ids_equal_hf_read_file",
                              "tests/test_mutation_kills.py::test_wordpiece_vocab_txt_errors_name_the_file_and_lines",
                              "tests/test_reliability_readers.py::test_wordpiece_vocab_txt_duplicates_are_refused",
                              "tests/test_wordpiece.py::test_bad_vocab_files",
                              "tests/test_wordpiece.py::test_ids_equal_hf_bert",
                              "tests/test_mutation_kills_readers.py::test_vocab_txt_is_read_as_utf8_under_any_locale"],
    # test_compiled_vocab.py loads cl100k in every test (seconds per mutant): the hand-made rank tables of
    # test_mutation_kills_readers.py instead
    "io/compiled_vocab.py": [f"tests/test_mutation_kills_readers.py::test_compiled_{name}" for name in (
        "vocabulary_hit_equals_the_built_tokenizer", "vocabulary_file_follows_the_layout",
        "vocabulary_damage_is_never_read", "vocabulary_cache_failures_fall_back_to_building",
        "key_covers_every_load_argument", "tokenizers_run_on_the_kernel_of_their_tables")] + [
        "tests/test_mutation_kills_readers.py::test_builder_stamp_follows_the_table_builder_and_the_kernel"],
    # all of test_hf_metaspace.py costs ~20 s per mutant (Mistral files, trained models): its fast tests and the
    # hand-made files of test_mutation_kills_readers.py, checked against HF tokenizers
    "io/hf_metaspace.py": ["tests/test_reliability_readers.py::test_metaspace_tokenizer_json_is_checked",
                           "tests/test_hf_metaspace.py::test_parts_beyond_the_metaspace_model_go_to_the_pipeline",
                           "tests/test_hf_metaspace.py::test_unknown_characters_without_unk_token_are_dropped_like_hf",
                           "tests/test_hf_metaspace.py::test_hf_trained_sentencepiece_bpe[first-False]",
                           *(f"tests/test_mutation_kills_readers.py::test_metaspace_{name}" for name in (
                               "files_equal_hf_and_export_back", "unigram_files_equal_hf_and_export_back",
                               "file_kinds_are_told_apart", "reader_errors_say_what_is_wrong",
                               "precompiled_step_without_a_map_normalizes_nothing",
                               "fields_hf_fills_or_used_to_write_read_as_hf_reads_them"))],
    # the SentencePiece-style BPE / Unigram models those files build: the same fast tests as io/hf_metaspace.py
    # (hand-made files against HF tokenizers), not all of test_hf_metaspace.py (~20 s per mutant)
    "models/metaspace_bpe.py": ["tests/test_reliability_readers.py::test_metaspace_tokenizer_json_is_checked",
                                "tests/test_hf_metaspace.py::test_parts_beyond_the_metaspace_model_go_to_the_pipeline",
                                "tests/test_hf_metaspace.py::test_unknown_characters_without_unk_token_are_dropped_"
                                "like_hf",
                                "tests/test_hf_metaspace.py::test_hf_trained_sentencepiece_bpe[first-False]",
                                *(f"tests/test_mutation_kills_readers.py::test_metaspace_{name}" for name in (
                                    "files_equal_hf_and_export_back", "unigram_files_equal_hf_and_export_back",
                                    "file_kinds_are_told_apart", "reader_errors_say_what_is_wrong",
                                    "precompiled_step_without_a_map_normalizes_nothing",
                                    "fields_hf_fills_or_used_to_write_read_as_hf_reads_them")),
                                "tests/test_mutation_kills_spbpe.py"],
    "io/hf_dir.py": [f"tests/test_mutation_kills_readers.py::test_hf_dir_{name}" for name in (
        "loads_in_transformers_with_roles_and_template", "without_options_is_the_plain_tokenizer",
        "refusals_write_nothing", "adds_one_role_without_naming_the_other")],
    # not test_device_nodes_are_refused_not_replaced (a mutant would replace the machine's /dev/null as root) nor
    # test_stale_temp_files_of_dead_processes_are_removed (it asks os.kill about the parent process: a mutant that
    # sends signal 1 hangs up mutmut itself)
    "io/atomic.py": [f"tests/test_reliability_outputs.py::test_{name}" for name in (
        "directories_and_fifos_are_refused", "symlink_is_followed_and_kept", "existing_mode_is_kept",
        "hard_link_is_reported", "failed_block_leaves_nothing", "sigterm_removes_the_temp_file")] + [
        f"tests/test_mutation_kills_readers.py::test_atomic_{name}" for name in (
            "write_new_files_directories_and_errors", "sigterm_unwinds_only_where_it_may",
            "stale_temps_and_liveness", "keeps_owner_and_warns_about_hard_links")],
    # each component read from the JSON HF writes and compared with HF running it, no training (~3 s per mutant);
    # test_pipeline_components.py's per-component tests (an HF-trained BPE each) add ~5 s per mutant
    "pipeline/pre_tokenizers.py": ["tests/test_mutation_kills_pipeline.py"],
    # text, offsets, JSON and defaults against HF for each normalizer (Precompiled on sentencepiece's own maps)
    "pipeline/normalizers.py": ["tests/test_mutation_kills_pipeline.py"],
    "pipeline/decoders.py": ["tests/test_mutation_kills_pipeline.py"],
}
# session 7: the time limit's rule, the runaway error's pattern text, a runaway on the match-by-match path and in
# a digit chunk, the text whose highest code point is the lowest with a stand-in (against tiktoken)
MODULE_TESTS["pretokenize.py"] += [
    f"tests/test_mutation_kills_pipeline.py::{name}"
    for name in ("test_regex_time_limit_is_a_base_plus_a_share_per_character",
                 "test_runaway_error_names_the_first_80_characters_of_the_pattern",
                 "test_a_runaway_after_findall_left_gaps_names_the_pattern",
                 "test_a_runaway_in_a_digit_split_chunk_names_the_pattern",
                 "test_text_whose_highest_code_point_is_the_lowest_with_a_stand_in_is_pinned",
                 "test_a_pattern_without_unicode_classes_needs_no_stand_ins")]
# session 8: custom (?i) patterns spelled out with tiktoken's folded classes (both paths against tiktoken)
MODULE_TESTS["pretokenize.py"] += [
    f"tests/test_patterns.py::{name}"
    for name in ("test_case_insensitive_classes_equal_tiktoken",
                 "test_case_insensitive_pattern_with_digit_chunks_equals_tiktoken_per_chunk")]

# session 7, mut-big1: the mutants of train/bpe.py and io/hf_json.py outside their '*[05]' samples
MODULE_TESTS["train/bpe.py"] += ["tests/test_mutation_kills_big1.py"]
MODULE_TESTS["io/hf_json.py"] += [f"tests/test_mutation_kills_big1.py::test_{name}" for name in (
    "byte_level_pre_tokenizer_splits_like_hf", "read_hf_json_names_the_file_and_takes_the_pipeline_when_asked",
    "metaspace_files_read_by_path_are_named_after_the_file",
    "a_byte_level_file_without_added_tokens_takes_the_compiled_path", "a_missing_ignore_merges_reads_as_false_like_hf",
    "flags_of_the_normalizer_and_post_processor_are_checked_and_the_post_processor_is_kept",
    "top_level_and_vocab_id_errors_name_the_file_and_the_field")]

# session 8, mut8: the survivors left "explained, not shown equivalent" (tests/test_mutation_kills_settled.py)
SETTLED = "tests/test_mutation_kills_settled.py"
MODULE_TESTS["train/bpe.py"] += [f"{SETTLED}::test_{name}" for name in (
    "counting_in_a_process_flagged_daemon_stays_in_that_process",
    "a_dead_worker_fails_the_count_with_a_clear_error_instead_of_hanging",
    "the_process_pool_runs_its_initializer_with_its_arguments_in_each_worker",
    "the_cl100k_family_pattern_with_id_6_counts_through_the_regex",
    "the_largest_node_count_the_int32_ids_hold_passes_the_size_check")]
MODULE_TESTS["io/hf_json.py"] += [f"{SETTLED}::test_{name}" for name in (
    "models_without_a_type_or_a_required_field_are_read_as_hf_reads_them",
    "the_untyped_model_errors_say_what_is_missing",
    "a_sparse_vocab_id_within_the_bound_that_counts_the_added_tokens_reads_like_hf",
    "an_exception_inside_a_component_is_a_corrupt_file_error_naming_the_file",
    "added_token_ids_hf_would_renumber_are_refused_and_the_rest_read_with_hfs_ids",
    "an_added_token_hf_would_renumber_is_refused_with_the_file_named",
    "unigram_vocab_entries_hf_refuses_are_refused_naming_the_entry")]
for _module in ("io/hf_metaspace.py", "models/metaspace_bpe.py"):
    MODULE_TESTS[_module] += [f"{SETTLED}::test_a_unigram_piece_without_a_score_is_refused"]


def toml_value(value) -> str:
    return json.dumps(value)  # lists of strings and strings: JSON spelling is valid TOML


def scratch_pyproject(module: str, tests: list[str], timeout_multiplier: float | None = None) -> str:
    """The project's pyproject.toml with [tool.mutmut] narrowed to one module and its tests."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    base = tomllib.loads(text).get("tool", {}).get("mutmut", {})
    head, sep, tail = text.partition("\n[tool.mutmut]\n")
    if sep:  # drop the base section; it is written again below with the two keys added
        rest = tail.split("\n[", 1)
        text = head + ("\n[" + rest[1] if len(rest) > 1 else "\n")
    config = dict(base)
    config["only_mutate"] = [f"src/tokenlab/{module}"]
    config["pytest_add_cli_args_test_selection"] = tests
    # tests import benchmarks' harness, and some load generator scripts (scripts/make_unicode_classes.py)
    config["also_copy"] = sorted(set(config.get("also_copy", [])) | {"benchmarks", "scripts"})
    if timeout_multiplier is not None:  # mutmut's CPU limit is 2 * multiplier * (the tests' time + 1 s)
        config["timeout_multiplier"] = timeout_multiplier
    lines = ["", "[tool.mutmut]"] + [f"{k} = {toml_value(v)}" for k, v in config.items()]
    return text.rstrip("\n") + "\n" + "\n".join(lines) + "\n"


def run_module(module: str, max_children: int, python: str, only: list[str] | None = None,
               timeout_multiplier: float | None = None) -> dict:
    tests = MODULE_TESTS[module]
    work = ROOT / ".mutation" / module.replace("/", "__").removesuffix(".py")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".hypothesis")
    shutil.copytree(ROOT / "src", work / "src", ignore=ignore)
    shutil.copytree(ROOT / "tests", work / "tests", ignore=ignore)
    shutil.copytree(ROOT / "benchmarks", work / "benchmarks", ignore=shutil.ignore_patterns("__pycache__", "out"))
    shutil.copytree(ROOT / "scripts", work / "scripts", ignore=ignore)
    (work / "pyproject.toml").write_text(scratch_pyproject(module, tests, timeout_multiplier), encoding="utf-8")
    # one OpenMP/MKL thread: mutmut forks each mutant's process from one that already ran the tests, and a child
    # that inherits torch's OpenMP pool (the byte tokenizer's reference returns torch tensors) hangs in it
    # TOKENLAB_MUTATION: tests/conftest.py gives tqdm a lock of each process's own (see there)
    env = dict(os.environ, CI="true", TQDM_DISABLE="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               TOKENLAB_MUTATION="1")
    env.pop("PYTHONPATH", None)  # mutmut puts mutants/src first on sys.path itself
    print(f"== {module}: tests {' '.join(tests)}", flush=True)
    # only: fnmatch patterns over mutant names (e.g. "*[05]" for every mutant whose number ends in 0 or 5): a sample
    subprocess.run([python, "-m", "mutmut", "run", "--max-children", str(max_children), *(only or [])], cwd=work,
                   env=env, check=False)
    subprocess.run([python, "-m", "mutmut", "export-cicd-stats"], cwd=work, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    stats = json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text())
    results = subprocess.run([python, "-m", "mutmut", "results"], cwd=work, env=env, check=True,
                             capture_output=True, text=True).stdout
    survivors = [line.split(":")[0].strip() for line in results.splitlines() if line.strip().endswith("survived")]
    tested = stats["killed"] + stats["survived"] + stats.get("timeout", 0) + stats.get("suspicious", 0)
    if not tested:
        raise SystemExit(f"{module}: no mutant was tested (did the clean test run fail? see the output above)")
    killed = stats["killed"] + stats.get("timeout", 0)
    row = {"module": module, "tests": tests, "sample": only or "all", **stats,
           "kill_rate": round(killed / tested, 4) if tested else None,
           "survivors": survivors}
    print(f"   {module}: {killed}/{tested} killed ({100 * killed / max(tested, 1):.1f}%), "
          f"{stats['survived']} survived, {stats.get('no_tests', 0)} not covered by the tests", flush=True)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*")
    parser.add_argument("--max-children", type=int, default=1, help="parallel test processes (default 1)")
    parser.add_argument("--list", action="store_true", help="list the modules and their tests")
    parser.add_argument("--only", action="append", metavar="GLOB",
                        help="run only mutants whose name matches (repeatable), e.g. '*[05]' samples one in five")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--timeout-multiplier", type=float, metavar="X",
                        help="mutmut's timeout_multiplier (default 15): a mutant that loops forever is stopped after "
                             "2X times its tests' CPU time; 3 keeps infinite loops in slow tests from taking minutes")
    args = parser.parse_args()
    if args.list:
        for module, tests in MODULE_TESTS.items():
            print(f"{module}: {' '.join(tests)}")
        return 0
    unknown = [m for m in args.modules if m not in MODULE_TESTS]
    if unknown:
        parser.error(f"no tests registered for {unknown}; see --list")
    summary_path = ROOT / ".mutation" / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    for module in args.modules or list(MODULE_TESTS):
        summary[module] = run_module(module, args.max_children, args.python, args.only, args.timeout_multiplier)
        summary_path.write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
