from plano.cli.main import main

main()
