#!/usr/bin/perl

# One credentials file named by ten locations, two workers: read once per
# change for the whole nginx.  And a clock offset learnt from one bucket
# host's CI shifts that host's signatures only.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use Time::HiRes qw(sleep);
use Test::More;

my @keys = map { [ sprintf('AKIDshared%030d', $_),
                   sprintf('sharedsecretkey%019d', $_) ] } 1 .. 3;

my $locations = join "\n", map { <<"EOF" } 1 .. 10;
        location /f$_/ {
            ci_jobs on;
            ci_jobs_credentials_file %%DIR%%/shared.credentials;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }
EOF

my $t = CiJobsTest->new(
    workers => 2,
    secrets => [ map { $_->[1] } @keys ],
    emulators => {
        plain => { secrets => [ map { "$_->[0]:$_->[1]" } @keys ] },
        skewed => { clock_offset => 80000, host => 'otherbucket-1250000000'
                                                . '.ci.ap-beijing.myqcloud.com' },
    },
    start => 0,
    http => <<"EOF");
    ci_jobs_region ap-beijing;

    server {
        listen 127.0.0.1:%%PORT%% reuseport;
        ci_jobs_bucket examplebucket-1250000000;
$locations
        location /plain/ {
            ci_jobs on;
            %%CREDENTIALS%%
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /skewed/ {
            ci_jobs on;
            ci_jobs_bucket otherbucket-1250000000;
            ci_jobs_secret_id $CiJobsTest::SECRET_ID;
            ci_jobs_secret_key $CiJobsTest::SECRET_KEY;
            ci_jobs_pass http://127.0.0.1:%%EMU_skewed%%;
        }
    }
EOF

sub write_creds {
    my ($k) = @_;
    my $f = $t->dir . '/shared.credentials';
    open my $fh, '>', "$f.tmp" or die;
    print $fh "SecretId=$k->[0]\nSecretKey=$k->[1]\n";
    close $fh;
    chmod 0600, "$f.tmp";
    rename "$f.tmp", $f or die;
}

write_creds($keys[0]);
$t->start_nginx;

for my $k (@keys[1, 2]) {
    sleep 1.2;
    write_creds($k);
    ok(CiJobsTest::wait_for(sub {
           my @u = $t->upstream_requests('plain');
           $t->get('/f7/jobs/jobsSuccess1')->{status} == 200
               && @u && join('', map { $_->[1] } @{ $u[-1]{headers} })
                        =~ /q-ak=$k->[0]/ }, 5),
       "the new credentials sign ($k->[0])");
}

my $bad = 0;
for my $i (1 .. 10) {
    $bad++ for grep { $t->get("/f$i/jobs/jobsSuccess1")->{status} != 200 }
               1 .. 4;
}
is($bad, 0, 'every location, in both workers, signs with them');

my @loaded = $t->error_log =~ /(credentials loaded from "[^"]*shared)/g;
is(scalar @loaded, 3,
   'each version (the first, two new) read once for ten locations and two workers');

# --- the clock offset of each host ---------------------------------------------

$t->forget_upstream_requests;
is($t->get('/skewed/jobs/jobsSuccess1')->{status}, 200,
   'a CI 22 hours ahead: corrected after one refusal');
my @skewed = $t->upstream_requests('skewed');
is(scalar @skewed, 2, 'one refused signature, one retry');

my $ok = 0;
for (1 .. 6) {
    $ok++ if $t->get('/plain/jobs/jobsSuccess1')->{status} == 200;
}
is($ok, 6, 'another host still signs with our clock');
my @plain = $t->upstream_requests('plain');
is(scalar(grep { $_->{signature} eq 'ok' } @plain), scalar @plain,
   'every signature it got was good the first time');
like($t->error_log, qr/CI clock of "otherbucket-[^"]+" is 8\d{4} seconds off/,
     'the offset is logged with its host');

$t->done;
done_testing;
