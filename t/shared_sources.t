#!/usr/bin/perl

# One credentials file named by ten locations, two workers: read once per
# change for the whole nginx.  And a clock offset learnt from one target
# (bucket host and ci_jobs_pass) shifts that target's signatures only, is
# kept only when the retry signed with it was accepted (a forged Date
# moves nothing), and goes back to zero when CI's clock agrees with ours
# again.

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
        skewed2 => { clock_offset => 80000, host => 'otherbucket-1250000000'
                                                 . '.ci.ap-beijing.myqcloud.com' },
        drift => { clock_offset => 1000 },
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

        # the same bucket host, reached another way: a target of its own
        location /skewed2/ {
            ci_jobs on;
            ci_jobs_bucket otherbucket-1250000000;
            ci_jobs_secret_id $CiJobsTest::SECRET_ID;
            ci_jobs_secret_key $CiJobsTest::SECRET_KEY;
            ci_jobs_pass http://127.0.0.1:%%EMU_skewed2%%;
        }

        location /drift/ {
            ci_jobs on;
            %%CREDENTIALS%%
            ci_jobs_pass http://127.0.0.1:%%EMU_drift%%;
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

$t->forget_upstream_requests;
is($t->get('/skewed2/jobs/jobsSuccess1')->{status}, 200,
   'the same host through another ci_jobs_pass: 200');
is(scalar(my @s2 = $t->upstream_requests('skewed2')), 2,
   'its own offset learnt, not the other target\'s');

# the KeyTime start of a recorded request, against the time it was sent
sub signed_off {
    my ($req) = @_;
    my ($auth) = map { $_->[1] } grep { lc $_->[0] eq 'authorization' }
                 @{ $req->{headers} };
    my ($start) = ($auth // '') =~ /q-sign-time=(\d+);/;
    return defined $start ? $start - $req->{time} : 1e9;
}

# --- a forged Date ------------------------------------------------------------

my $skews = () = $t->error_log =~ /CI clock of "[^"]+" is/g;
$t->forget_upstream_requests;
is($t->get('/plain/jobs/faultforgeddate')->{status}, 403,
   'a 403 with a Date 22 hours ahead: still a 403');
my @forged = $t->upstream_requests('plain');
is(scalar @forged, 2, 'the offset it suggests tried once');
is($forged[1]{code}, 'RequestTimeTooSkewed', 'and refused');
is(scalar(() = $t->error_log =~ /CI clock of "[^"]+" is/g), $skews,
   'no offset learnt');

$t->forget_upstream_requests;
is($t->get('/plain/jobs/jobsSuccess1')->{status}, 200, 'then a normal request');
@plain = $t->upstream_requests('plain');
is(scalar @plain, 1, 'one upstream request');
ok(abs(signed_off($plain[0])) < 300,
   sprintf 'signed within 5 minutes of the real time (%+d s)',
           signed_off($plain[0]));

# --- an offset that is no longer needed ---------------------------------------

is($t->get('/drift/jobs/jobsSuccess1')->{status}, 200,
   'a CI 1000 s ahead: 200');
$t->{emulators}{drift}{clock_offset} = 600;
$t->restart_emulator('drift');
$t->forget_upstream_requests;
for (1 .. 3) {
    is($t->get('/drift/jobs/jobsSuccess1')->{status}, 200,
       "its clock 600 s ahead now: 200 ($_)");
}
my @drift = $t->upstream_requests('drift');
ok(abs(signed_off($drift[-1])) < 300,
   sprintf 'an offset no longer needed: back to our clock (%+d s)',
           signed_off($drift[-1]));
like($t->error_log, qr/CI clock of "[^"]+" agrees with ours again/,
     'and said so');

$t->done;
done_testing;
