module sbx/helpers/sbx-spawn

go 1.25
