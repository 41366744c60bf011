from chimera_store.cli import main

main()
