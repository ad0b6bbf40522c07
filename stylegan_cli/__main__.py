from stylegan_cli import main

main()
