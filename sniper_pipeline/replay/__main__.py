import sys

from sniper_pipeline.replay.cli import serve_main

sys.exit(serve_main(sys.argv[1:]))
