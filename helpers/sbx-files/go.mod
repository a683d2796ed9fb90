module sbx/helpers/sbx-files

go 1.25
