from mimamori.cli import main

main()
