from voicectl.cli import main

main()
