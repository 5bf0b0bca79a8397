from mscpk.interfaces.cli import main

main()
