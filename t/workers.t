#!/usr/bin/perl

# Two worker processes serve concurrent clients; every answer is whole.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use POSIX ();
use Test::More;

my $t = CiJobsTest->new(workers => 2, http => <<'EOF');
    log_format workers '$pid $status';

    server {
        listen 127.0.0.1:%%PORT%% reuseport;
        access_log %%DIR%%/workers.log workers;

        location /ci/ {
            ci_jobs on;
            %%CREDENTIALS%%
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }
    }
EOF

my $clients = 8;
my $each = 10;
my @kids;

for my $c (1 .. $clients) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $bad = 0;
        for my $i (1 .. $each) {
            my $id = $i % 2 ? 'jobsSuccess1' : 'jobsRunning1';
            my $r = $t->get("/ci/jobs/$id");
            $bad++ unless $r->{status} == 200 && $r->{body} =~ /<JobId>$id</;
        }
        # leave the harness's processes to the parent
        POSIX::_exit($bad ? 1 : 0);
    }
    push @kids, $pid;
}

my $failed = 0;
for (@kids) {
    waitpid $_, 0;
    $failed++ if $?;
}

is($failed, 0, "$clients concurrent clients: every answer 200 and whole");

my @lines = split /\n/, CiJobsTest::slurp($t->dir . '/workers.log');
is(scalar @lines, $clients * $each, 'every request logged');
my %pids = map { (split / /)[0] => 1 } @lines;
is(scalar keys %pids, 2, 'both workers served');
is(scalar(grep { !/ 200$/ } @lines), 0, 'all 200');

$t->done;
done_testing;
