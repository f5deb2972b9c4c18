from pmc.cli import main

main()
