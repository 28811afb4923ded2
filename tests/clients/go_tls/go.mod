module tapflow.test/gotlspeer

go 1.19
