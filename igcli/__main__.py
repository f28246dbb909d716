from igcli.cli import main

main()
