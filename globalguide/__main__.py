from globalguide.cli import main

main()
