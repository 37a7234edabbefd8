"""`python -m llmeter_widget.simulator [options]`: run the simulated server (see cli.py)."""

import argparse
import sys

from .cli import add_arguments, main

parser = argparse.ArgumentParser(
    prog="python -m llmeter_widget.simulator",
    description="An OpenAI-compatible simulated LLM server.",
)
add_arguments(parser)
sys.exit(main(parser.parse_args()))
