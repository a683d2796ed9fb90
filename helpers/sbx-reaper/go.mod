module sbx/helpers/sbx-reaper

go 1.25
